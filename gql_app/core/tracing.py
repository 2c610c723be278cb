"""OpenTelemetry traces, opt-in by the standard `OTEL_*` variables; imported only then.

When `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` (`otlp`, `console`) is set, each
worker sets up the SDK (`provider`) and the app exports: the HTTP request (the official ASGI
instrumentation, which honours a client's `traceparent`), the GraphQL operation (name, type,
cost, document hash; never the text or variables), each database unit of work, and each
statement with its SQL text without parameters: the official SQLAlchemy instrumentation's
spans for what SQLAlchemy runs, and spans of the same kind (`Tracing.statement`) for the
read units straight on the driver, which stay there. Off, none of this is imported and the
hooks of gql_app/core/observability.py cost a comparison each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
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
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
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

    @contextmanager
    def statement(self, sql: str, attributes: Mapping[str, Any]) -> Iterator[None]:
        """A statement's span as the official SQLAlchemy instrumentation makes it (its name,
        kind and attributes: OpenTelemetry's database conventions, its default mode). A
        failure gives the error's type alone: a driver's message may quote a value."""
        operation = sql.split(None, 1)[0]
        with self.tracer.start_as_current_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={**attributes, "db.statement": sql, "db.operation": operation},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

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
    before = _statement_listeners(engine)
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
    added = _statement_listeners(engine) - before
    observability.statement_tracers = observability.statement_tracers | added


def _statement_listeners(engine: Engine) -> frozenset[object]:
    dispatch = engine.dispatch
    return frozenset((*dispatch.before_cursor_execute, *dispatch.after_cursor_execute))
