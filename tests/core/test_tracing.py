"""OpenTelemetry traces (gql_app/core/tracing.py), with the SDK's in-memory exporter: the span
tree of a nested query (the full path and the fast path alike), of a mutation and of a failed
unit of work; a client's `traceparent`; trace ids in the log; and no OpenTelemetry work at
all while tracing is off."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.engine import make_url

from gql_app.core import observability, tracing
from gql_app.core.config import load_settings
from gql_app.core.observability import LogFormatter
from gql_app.db.reads import _DriverReads
from gql_app.graphql.transport.fast_mutation import FastMutations
from tests.support.app import AppWith, MakePost, MakeUser, graphql_data, post_graphql

NESTED = """query Nested($name: String!) { userByUsername(username: $name) {
  posts(first: 2) { edges { node { title author { username } } } } } }"""
UPDATE = """mutation Update($id: ID!) { updatePost(input: {id: $id, title: "new title"}) {
  __typename } }"""
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Tree = tuple[str, tuple[Any, ...]]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """What the app exports while the test runs, with tracing on (`OTEL_TRACES_EXPORTER`)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        observability.tracing = None
        observability.trace_id_of_current_span = observability._no_trace_id
        tracing._provider = None


def _tree(finished: tuple[ReadableSpan, ...]) -> list[Tree]:
    """The spans as (name, children) trees, children in the order they started."""
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(finished, key=lambda span: span.start_time or 0):
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent, []).append(span)

    def grow(span: ReadableSpan) -> Tree:
        context = span.get_span_context()
        assert context is not None
        return span.name, tuple(grow(child) for child in children.get(context.span_id, ()))

    return [grow(root) for root in children.get(None, [])]


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_a_nested_query_has_the_same_span_tree_on_the_full_and_the_fast_path(
    app_with: AppWith, make_user: MakeUser, make_post: MakePost, spans: InMemorySpanExporter
) -> None:
    await make_post(await make_user("alice"))
    trees = []
    async with app_with(otel_traces_exporter="console") as client:
        for _ in ("full path", "fast path"):
            await graphql_data(client, NESTED, {"name": "alice"})
            trees.append(_tree(spans.get_finished_spans()))
            spans.clear()
    assert trees[0] == trees[1]
    ((http, (operation,)),) = trees[0]
    assert http == "POST /graphql"
    name, units = operation
    assert name == "query Nested"
    # The user, their posts, the posts' authors: a unit each, a SELECT in each (and on
    # SQLite the BEGIN SQLAlchemy sends).
    assert [unit[0] for unit in units] == ["db.unit_of_work"] * 3
    for _, statements in units:
        assert [name for name, _ in statements if name.startswith("SELECT")] != []
        assert all(name.startswith(("SELECT", "BEGIN")) for name, _ in statements)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_reads_stay_on_the_driver_with_tracing_on_each_statement_in_a_span_of_its_own(
    app_with: AppWith,
    make_user: MakeUser,
    make_post: MakePost,
    spans: InMemorySpanExporter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_post(await make_user("alice"))
    on_driver: list[object] = []
    execute = _DriverReads.execute

    async def recorded(reads: _DriverReads, statement: Any, *args: Any) -> Any:
        on_driver.append(statement)
        return await execute(reads, statement, *args)

    monkeypatch.setattr(_DriverReads, "execute", recorded)
    async with app_with(otel_traces_exporter="console") as client:
        await graphql_data(client, NESTED, {"name": "alice"})
    assert len(on_driver) == 2  # the posts and their authors (the user is a unit of its own)
    driven: list[dict[str, Any]] = [
        dict(span.attributes or {})
        for span in spans.get_finished_spans()
        if span.kind is SpanKind.CLIENT
        and span.instrumentation_scope is not None
        and span.instrumentation_scope.name == "gql_app"
    ]
    assert len(driven) == len(on_driver)
    url = make_url(database_url)
    for attributes in driven:
        assert attributes["db.system"] == "postgresql"
        assert attributes["db.operation"] == "SELECT"
        assert (attributes["db.name"], attributes["net.peer.port"]) == (url.database, url.port)
        assert "$1" in attributes["db.statement"]  # a placeholder where the value goes


async def test_the_operation_span_names_the_operation_and_never_a_variable(
    app_with: AppWith, make_user: MakeUser, spans: InMemorySpanExporter
) -> None:
    await make_user("alice")
    async with app_with(otel_traces_exporter="console") as client:
        await graphql_data(client, NESTED, {"name": "alice-variable-value"})
    (operation,) = _named(spans, "query Nested")
    attributes: dict[str, Any] = dict(operation.attributes or {})
    assert attributes["graphql.operation.name"] == "Nested"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["graphql.operation.cost"] > 0
    assert len(attributes["graphql.document.hash"]) == 16
    everything = json.dumps(
        [dict(span.attributes or {}) for span in spans.get_finished_spans()], default=str
    )
    assert "alice-variable-value" not in everything
    statements = [
        str(value)
        for span in spans.get_finished_spans()
        for key, value in (span.attributes or {}).items()
        if key in ("db.statement", "db.query.text")
    ]
    selects = [statement for statement in statements if statement.startswith("SELECT")]
    assert selects  # the SQL text, placeholders where the values go
    assert all("FROM" in statement for statement in selects)


async def test_a_mutation_has_its_write_unit_under_its_operation(
    app_with: AppWith, make_user: MakeUser, make_post: MakePost, spans: InMemorySpanExporter
) -> None:
    alice = await make_user("alice")
    post = await make_post(alice)
    async with app_with(otel_traces_exporter="console") as client:
        response = await post_graphql(client, UPDATE, {"id": post}, headers=alice.headers)
    assert response.json()["data"]["updatePost"]["__typename"] == "UpdatePostSuccess"
    ((_, (operation,)),) = _tree(spans.get_finished_spans())
    name, units = operation
    assert name == "mutation Update"
    assert [unit[0] for unit in units] == ["db.unit_of_work"] * len(units)
    # On PostgreSQL the UPDATE is a CTE's, its event's pg_notify beside it: a `WITH` span.
    texts = [
        str((span.attributes or {}).get("db.statement", "")) for span in spans.get_finished_spans()
    ]
    assert any("UPDATE posts" in text for text in texts)
    assert all(span.status.status_code is not StatusCode.ERROR for span in _named(spans, name))


async def test_a_mutation_has_the_same_span_tree_on_the_full_and_the_fast_path(
    app_with: AppWith,
    make_user: MakeUser,
    make_post: MakePost,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = []
    serve = FastMutations.serve

    async def counted(self: FastMutations, *args: Any, **kwargs: Any) -> Any:
        served.append(True)
        return await serve(self, *args, **kwargs)

    monkeypatch.setattr(FastMutations, "serve", counted)
    alice = await make_user("alice")
    post = await make_post(alice)
    trees = []
    async with app_with(otel_traces_exporter="console") as client:
        for _ in ("full path", "fast path"):
            response = await post_graphql(client, UPDATE, {"id": post}, headers=alice.headers)
            assert response.json()["data"]["updatePost"]["__typename"] == "UpdatePostSuccess"
            trees.append(_tree(spans.get_finished_spans()))
            spans.clear()
    assert served == [True]  # the second, and only the second
    assert trees[0] == trees[1]
    ((http, (operation,)),) = trees[0]
    assert (http, operation[0]) == ("POST /graphql", "mutation Update")


async def test_a_failed_unit_of_work_has_an_error_span(
    app_with: AppWith, make_user: MakeUser, make_post: MakePost, spans: InMemorySpanExporter
) -> None:
    post = await make_post(await make_user("alice"))
    mallory = await make_user("mallory")
    async with app_with(otel_traces_exporter="console") as client:
        response = await post_graphql(client, UPDATE, {"id": post}, headers=mallory.headers)
    assert response.json()["data"]["updatePost"]["__typename"] == "Forbidden"
    units = _named(spans, "db.unit_of_work")
    failed = [unit for unit in units if unit.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1  # the write, rolled back; the viewer's lookup succeeded
    assert [event.name for event in failed[0].events] == ["exception"]


async def test_a_clients_traceparent_is_the_parent_of_the_request_span(
    app_with: AppWith, spans: InMemorySpanExporter
) -> None:
    async with app_with(otel_traces_exporter="console") as client:
        await post_graphql(client, "{ me { id } }", headers={"traceparent": TRACEPARENT})
    (http,) = _named(spans, "POST /graphql")
    assert http.parent is not None
    assert format(http.parent.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(http.parent.span_id, "016x") == "b7ad6b7169203331"


async def test_log_lines_of_a_traced_request_carry_its_trace_id(
    app_with: AppWith, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gql_app.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(json=True))
    logging.getLogger("gql_app.access").addHandler(handler)
    try:
        async with app_with(otel_traces_exporter="console", access_log=True) as client:
            await post_graphql(client, "{ me { id } }", headers={"traceparent": TRACEPARENT})
    finally:
        logging.getLogger("gql_app.access").removeHandler(handler)
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def _caller() -> str:
    """The module that called into OpenTelemetry."""
    frame = sys._getframe(2)
    while frame.f_globals["__name__"].startswith("opentelemetry"):
        assert frame.f_back is not None
        frame = frame.f_back
    return str(frame.f_globals["__name__"])


@pytest.fixture
def otel_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every use of OpenTelemetry's context (each span, each instrumentation, any look-up
    goes through its runtime context) from now on: (what, the calling module)."""
    calls: list[tuple[str, str]] = []
    runtime = otel_context._RUNTIME_CONTEXT
    for name in ("attach", "get_current"):
        original = getattr(runtime, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append((_name, _caller()))
            return _original(*args)

        monkeypatch.setattr(runtime, name, counted)
    return calls


async def test_tracing_off_the_fast_path_never_calls_opentelemetry(
    app_with: AppWith, make_user: MakeUser, otel_calls: list[tuple[str, str]]
) -> None:
    await make_user("alice")
    async with app_with(access_log=True) as client:
        await graphql_data(client, NESTED, {"name": "alice"})  # the full path
        otel_calls.clear()
        await graphql_data(client, NESTED, {"name": "alice"})  # the fast path
        assert otel_calls == []
        otel_context.get_current()  # the probe sees a call
    assert otel_calls == [("get_current", __name__)]


async def test_tracing_off_the_full_path_only_meets_fastapis_own_disabled_telemetry(
    app_with: AppWith, make_user: MakeUser, otel_calls: list[tuple[str, str]]
) -> None:
    """FastAPI looks its (disabled) telemetry up in OpenTelemetry's context; gql_app adds
    nothing to that, and no span or context is ever made."""
    await make_user("alice")
    async with app_with(access_log=True) as client:
        otel_calls.clear()
        await graphql_data(client, NESTED, {"name": "alice"})
    assert {caller for _, caller in otel_calls} == {"fastapi.telemetry._api"}
    assert "attach" not in {what for what, _ in otel_calls}


def test_the_exporter_is_opentelemetrys_otlp_unless_the_console_is_asked_for() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    console = load_settings(otel_traces_exporter="CONSOLE")
    otlp = load_settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    assert isinstance(tracing._exporter(console), ConsoleSpanExporter)
    assert isinstance(tracing._exporter(otlp), OTLPSpanExporter)


def test_a_failed_statement_span_names_the_error_type_and_never_its_message() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with (
        pytest.raises(ValueError, match="alice-secret"),
        tracing.Tracing(provider).statement("SELECT $1::VARCHAR", {"db.system": "postgresql"}),
    ):
        raise ValueError('invalid input: "alice-secret"')
    (span,) = exporter.get_finished_spans()
    assert span.name == "SELECT"
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "ValueError")
    assert list(span.events) == []  # no exception event: its message could quote a value
    assert "alice-secret" not in json.dumps(dict(span.attributes or {}))
