"""OpenTelemetry traces, opt-in by the standard `OTEL_*` variables; imported only then.

When `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` (`otlp`, `console`) is set, each
worker sets up the SDK (`provider`) and the app exports: the HTTP request (the official ASGI
instrumentation, which honours a client's `traceparent`), the GraphQL operation (name, type,
cost, document hash; never the text or variables), each database unit of work, and each
statement (the official SQLAlchemy instrumentation: SQL text without parameters; while it
listens, read units run through SQLAlchemy rather than straight on the driver, so it sees
every statement). Off, none of this is imported and the hooks of
gql_app/core/observability.py cost a comparison each.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy.engine import Engine

from gql_app.core import observability
from gql_app.core.config import Settings
from gql_app.core.observability import RequestRecord, document_hash

OPERATION_SPAN = "graphql.operation"
UNIT_OF_WORK_SPAN = "db.unit_of_work"
_provider: TracerProvider | None = None


def _exporter(settings: Settings) -> SpanExporter:
    """`OTEL_TRACES_EXPORTER`'s (checked by the settings): `console`, else OTLP over HTTP."""
    if (settings.otel_traces_exporter or "").strip().lower() == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and the rest


def provider(settings: Settings) -> TracerProvider:
    """The process's tracer provider: the one `install`ed, else the SDK's from `OTEL_*`
    (service name `gql_app` unless `OTEL_SERVICE_NAME` says otherwise), made global."""
    global _provider
    if _provider is None:
        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "gql_app"}
        made = TracerProvider(resource=Resource.create(named))
        made.add_span_processor(BatchSpanProcessor(_exporter(settings)))
        trace.set_tracer_provider(made)
        _provider = made
    return _provider


def install(given: TracerProvider) -> None:
    """Use `given` rather than one made from `OTEL_*` (tests, with an in-memory exporter)."""
    global _provider
    _provider = given


class Tracing:
    """The hooks of gql_app/core/observability.py (`TracingHooks`), as spans."""

    def __init__(self, tracer_provider: TracerProvider) -> None:
        self.tracer = tracer_provider.get_tracer("gql_app")

    def start_operation(self, record: RequestRecord) -> None:
        span = self.tracer.start_span(OPERATION_SPAN)
        record.span = span
        record.span_token = otel_context.attach(trace.set_span_in_context(span))

    def end_operation(self, record: RequestRecord) -> None:
        span: Span = record.span
        record.span = None
        otel_context.detach(record.span_token)
        attributes: dict[str, Any] = {"graphql.operation.type": record.operation_type or "unknown"}
        if record.operation_name is not None:
            attributes["graphql.operation.name"] = record.operation_name
        if record.query is not None:
            attributes["graphql.document.hash"] = document_hash(record.query)
        if record.cost is not None:
            attributes["graphql.operation.cost"] = record.cost
        span.set_attributes(attributes)
        span.update_name(" ".join(filter(None, (record.operation_type, record.operation_name))))
        if record.outcome not in (None, "ok"):
            span.set_status(Status(StatusCode.ERROR, record.outcome))
        span.end()

    def unit_of_work(self) -> AbstractContextManager[object]:
        return self.tracer.start_as_current_span(UNIT_OF_WORK_SPAN)

    @staticmethod
    def trace_id() -> str | None:
        context = trace.get_current_span().get_span_context()
        return format(context.trace_id, "032x") if context.is_valid else None


def enable(settings: Settings) -> TracerProvider:
    """Tracing on in this process: the hooks of every layer make spans from now on."""
    tracer_provider = provider(settings)
    tracing = Tracing(tracer_provider)
    observability.tracing = tracing
    observability.trace_id_of_current_span = tracing.trace_id
    return tracer_provider


def instrument_engine(engine: Engine, tracer_provider: TracerProvider) -> None:
    """A span per statement the engine runs (the official SQLAlchemy instrumentation)."""
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = NoOpMeter("gql_app").create_up_down_counter("unused")  # its pool figures: ours
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
