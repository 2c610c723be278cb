"""The figures of gql_app/core/metrics.py as the layers' hooks report them, in this process
(tests/app/test_serve_metrics.py scrapes them from `gql-app serve`)."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gql_app.core.config import Settings, load_settings
from gql_app.core.errors import QueryTimeout
from gql_app.core.metrics import OperationNames, RequestMetrics, flush
from gql_app.core.observability import RequestRecord
from gql_app.core.slots import Slots
from gql_app.db import create_engine
from gql_app.domain.security import HashQueue
from tests.support.metrics import WAIT_SECONDS
from tests.support.postgres import Postgres, execute_sql
from tests.support.sessions import request_session

_SLEEP = text("SELECT pg_sleep(:seconds)")
_BACKEND_PID = text("SELECT pg_backend_pid()")
_TERMINATE = text("SELECT pg_terminate_backend(:pid, 10000)")  # returns once it is gone
# A table of this test's own, whose column's type a schema change alters under a statement.
_PROBE_CREATE = "CREATE TABLE stale_statement_probe (value integer)"
_PROBE_ALTER = "ALTER TABLE stale_statement_probe ALTER COLUMN value TYPE bigint"
_PROBE_DROP = "DROP TABLE stale_statement_probe"
_PROBE_READ = text("SELECT value FROM stale_statement_probe")


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_operation_names_past_the_cap_are_other_and_names_seen_stay_themselves() -> None:
    names = OperationNames(2)
    assert [names.label(name) for name in ("A", "B", "C", "A", None)] == [
        "A",
        "B",
        "other",
        "A",
        "anonymous",
    ]


def test_an_overlong_operation_name_is_other() -> None:
    assert OperationNames(10).label("A" * 101) == "other"


def _record(name: str, statements: int, cost: int, codes: list[str] | None) -> RequestRecord:
    record = RequestRecord("an id", "POST", "/graphql")
    record.operation_name, record.operation_type = name, "query"
    record.statements, record.cost, record.error_codes = statements, cost, codes
    record.outcome = codes[0] if codes else "ok"
    return record


@pytest.mark.usefixtures("metrics_on")
def test_a_requests_figures_reach_prometheus_at_a_flush_each_in_its_bucket() -> None:
    labels = {"operation": "Flushed", "type": "query"}
    latency = "gql_app_graphql_request_duration_seconds_bucket"
    flush()
    errors = _value("gql_app_graphql_errors_total", code="BAD_USER_INPUT")
    RequestMetrics(10)(_record("Flushed", 2, 7, ["BAD_USER_INPUT"]), 0.005)
    flush()
    outcome = {**labels, "outcome": "BAD_USER_INPUT"}
    assert _value("gql_app_graphql_requests_total", **outcome) == 1
    assert _value(latency, **outcome, le="0.0025") == 0
    assert _value(latency, **outcome, le="0.005") == 1  # an upper bound is in its bucket
    assert _value("gql_app_graphql_request_duration_seconds_sum", **outcome) == 0.005
    assert _value("gql_app_graphql_statements_bucket", **labels, le="2.0") == 1
    assert _value("gql_app_graphql_statements_bucket", **labels, le="1.0") == 0
    assert _value("gql_app_graphql_cost_sum", **labels) == 7
    assert _value("gql_app_graphql_errors_total", code="BAD_USER_INPUT") == errors + 1


@pytest.mark.usefixtures("metrics_on")
def test_the_flushing_thread_writes_a_requests_figures_within_its_lag() -> None:
    requests = {"operation": "Threaded", "type": "query", "outcome": "ok"}
    RequestMetrics(10)(_record("Threaded", 1, 1, None), 0.01)
    deadline = time.monotonic() + WAIT_SECONDS
    while _value("gql_app_graphql_requests_total", **requests) == 0:
        assert time.monotonic() < deadline, "no flush within the lag"
        time.sleep(0.05)
    assert _value("gql_app_graphql_request_duration_seconds_count", **requests) == 1


@pytest.mark.usefixtures("metrics_on")
async def test_a_request_waiting_for_admission_is_counted_while_it_waits() -> None:
    slots = Slots(1)
    await slots.acquire()
    flush()  # what earlier tests counted, so that `waited` is all of it
    waited = _value("gql_app_admission_wait_seconds_count")
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    flush()  # the waits are counted, and written when the figures flush
    assert _value("gql_app_admission_waiting") == 1
    slots.release()
    await waiter
    flush()
    assert _value("gql_app_admission_waiting") == 0
    assert _value("gql_app_admission_wait_seconds_count") == waited + 1


@pytest.mark.usefixtures("metrics_on")
async def test_password_hashes_in_flight_are_counted_until_they_end() -> None:
    queue = HashQueue(1)
    try:
        during = await queue.run(_value, "gql_app_password_hashes_in_flight")
    finally:
        queue.close()
    await asyncio.sleep(0)  # the hash gives its place back on its thread, then here
    assert during == 1
    assert _value("gql_app_password_hashes_in_flight") == 0


@pytest.fixture
def metered_settings(postgres_server: Postgres) -> Settings:
    """Metrics on (a metered pool), every checkout pinged."""
    return load_settings(database_url=postgres_server.url, metrics_port=9, db_ping_after_seconds=0)


@pytest.mark.usefixtures("metrics_on")
async def test_a_statement_timeout_is_counted(postgres_server: Postgres) -> None:
    settings = load_settings(
        database_url=postgres_server.url, metrics_port=9, db_statement_timeout_ms=100
    )
    engine = create_engine(settings)
    before = _value("gql_app_db_statement_timeouts_total")
    session = request_session(engine)
    try:
        with pytest.raises(QueryTimeout):
            async with session.transaction() as db:
                await db.execute(_SLEEP, {"seconds": 2})
    finally:
        await session.close()
        await engine.dispose()
    assert _value("gql_app_db_statement_timeouts_total") == before + 1


@pytest.mark.usefixtures("metrics_on")
async def test_a_broken_pooled_connection_is_counted_as_a_reconnect(
    metered_settings: Settings,
) -> None:
    engine = create_engine(metered_settings)
    before = _value("gql_app_db_reconnects_total", pool="primary")
    try:
        async with engine.connect() as victim:
            pid = (await victim.execute(_BACKEND_PID)).scalar_one()
        killer = create_engine(metered_settings, pooled=False)
        try:
            async with killer.connect() as connection:
                await connection.execute(_TERMINATE, {"pid": pid})
        finally:
            await killer.dispose()
        async with engine.connect() as connection:  # the killed one: pinged, and replaced
            await connection.execute(text("SELECT 1"))
        flush()  # the connections in use are read from the pool when the figures flush
        assert _value("gql_app_db_pool_checked_out", pool="primary") == 0
    finally:
        await engine.dispose()
    assert _value("gql_app_db_reconnects_total", pool="primary") >= before + 1


@pytest.mark.usefixtures("metrics_on")
async def test_a_statement_made_stale_by_a_schema_change_is_counted_as_a_rerun(
    postgres_server: Postgres,
) -> None:
    dsn = make_url(postgres_server.url).set(drivername="postgresql").render_as_string(False)
    await execute_sql(dsn, _PROBE_CREATE)
    engine = create_engine(load_settings(database_url=postgres_server.url, db_pool_size=1))
    session = request_session(engine)
    before = _value("gql_app_db_stale_statement_reruns_total")
    try:
        await session.run(lambda db: db.execute(_PROBE_READ))  # prepared on the one connection
        await execute_sql(dsn, _PROBE_ALTER)
        await session.run(lambda db: db.execute(_PROBE_READ))  # stale: run again, counted
    finally:
        await session.close()
        await engine.dispose()
        await execute_sql(dsn, _PROBE_DROP)
    assert _value("gql_app_db_stale_statement_reruns_total") == before + 1


@pytest.mark.usefixtures("metrics_on")
async def test_only_a_checkout_that_found_no_idle_connection_is_observed_as_a_wait(
    metered_settings: Settings,
) -> None:
    engine = create_engine(metered_settings)
    waits = "gql_app_db_pool_wait_seconds_count"
    flush()
    before = _value(waits, pool="primary")
    try:
        for _ in range(2):  # the first opens the connection, the second finds it idle
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    flush()
    assert _value(waits, pool="primary") == before + 1
