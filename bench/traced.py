"""`python -m bench.traced serve ...`: `gql-app serve` with tracing on, to an exporter that
discards what it is given (the bench's `+tracing` servers).

Everything of tracing runs as with OTLP: the SDK's provider and batch processor, every span
made, ended and handed to the exporter; only the encoding and the network are left out.
This module's body runs in uvicorn's spawned workers too (they import it as `__mp_main__`),
so `--workers N` traces in every worker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from gql_app import cli
from gql_app.core import tracing


class DiscardingExporter(SpanExporter):
    """Takes every batch of spans and drops it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "gql_app"}))
provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
trace.set_tracer_provider(provider)
tracing.install(provider)
# Tracing on, as an operator turns it on; the provider installed takes OTLP's place.
os.environ["OTEL_TRACES_EXPORTER"] = "otlp"

if __name__ == "__main__":
    cli.main()
