"""Failures of the database reach the caller of a unit of work as typed errors that heal.

These run on the session layer (`RequestSession`); the HTTP tests show what clients see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import TextClause, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql_app.core.config import Settings
from gql_app.core.errors import DatabaseBusy, DatabaseUnavailable, QueryTimeout
from gql_app.db import (
    Reads,
    RequestSession,
    SessionClosedError,
    create_engine,
    is_stale_statement,
)
from gql_app.db.models import User
from gql_app.domain import accounts
from tests.reliability.conftest import (
    assert_no_leaks,
    holding,
    reliability_settings,
    settled_connections,
)
from tests.support.postgres import PostgresCluster, execute_sql
from tests.support.sessions import request_session

_SLEEP = text("SELECT pg_sleep(:seconds)")
_COUNT_USERS = text("SELECT count(*) FROM users")
_INSERT_USER = text(
    "INSERT INTO users (username, email, password_hash) VALUES (:name, :email, 'hash')"
)
_LOCK_USERS = "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"
# A role allowed no connection: PostgreSQL refuses it with too_many_connections (53300).
_LIMITED_ROLE = ("DROP ROLE IF EXISTS limited", "CREATE ROLE limited LOGIN CONNECTION LIMIT 0")


@pytest.fixture
def settings(reliability_url: str) -> Settings:
    return reliability_settings(reliability_url, db_pool_size=1, db_statement_timeout_ms=300)


async def _count_users(engine: AsyncEngine) -> int:
    session = request_session(engine)
    try:
        async with session.transaction() as db:
            return int((await db.execute(_COUNT_USERS)).scalar_one())
    finally:
        await session.close()


async def _read_count_users(engine: AsyncEngine) -> int:
    """`_count_users` as a read unit: straight on the driver (`db._DriverReads`)."""
    session = request_session(engine)
    try:
        return int(await session.read(lambda reads: _scalar(reads, _COUNT_USERS)))
    finally:
        await session.close()


async def _scalar(reads: Reads, statement: TextClause, **parameters: object) -> Any:
    return (await reads.execute(statement, parameters)).scalar_one()


async def test_an_exhausted_pool_is_database_busy_and_the_pool_heals(
    engine: AsyncEngine,
) -> None:
    holder, waiter = (request_session(engine) for _ in range(2))
    released = asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with holder.transaction() as db:
            await db.execute(text("SELECT 1"))
            await released.wait()

    task = asyncio.create_task(hold_the_only_connection())
    await asyncio.sleep(0.1)
    with pytest.raises(DatabaseBusy) as caught:
        async with waiter.transaction() as db:
            await db.execute(text("SELECT 1"))
    released.set()
    await task
    assert caught.value.code == "DATABASE_BUSY"
    assert await _count_users(engine) == 0


async def test_a_statement_past_the_timeout_is_query_timeout_and_the_connection_heals(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    with pytest.raises(QueryTimeout) as caught:
        async with session.transaction() as db:
            await db.execute(_SLEEP, {"seconds": 2})
    await session.close()
    assert caught.value.code == "QUERY_TIMEOUT"
    assert await _count_users(engine) == 0
    assert_no_leaks(await settled_connections(reliability_url, limit=1), limit=1)


async def test_a_cancelled_unit_of_work_rolls_back_and_returns_its_connection(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)

    async def insert_behind_a_lock() -> None:
        async with session.transaction(write=True) as db:
            await db.execute(_INSERT_USER, {"name": "cancelled", "email": "cancelled@example.org"})
            await db.execute(_COUNT_USERS)

    async with holding(reliability_url, _LOCK_USERS):
        task = asyncio.create_task(insert_behind_a_lock())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await session.close()
    assert await _count_users(engine) == 0
    assert_no_leaks(await settled_connections(reliability_url, limit=1), limit=1)


async def test_a_stopped_server_is_database_unavailable_and_its_restart_heals(
    engine: AsyncEngine, own_postgres: PostgresCluster
) -> None:
    assert await _count_users(engine) == 0  # the pool now holds a connection to the server
    own_postgres.stop()
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await _count_users(engine)
    finally:
        own_postgres.start()
    assert caught.value.code == "DATABASE_UNAVAILABLE"
    assert await _count_users(engine) == 0


async def test_a_stopped_server_fails_a_read_as_database_unavailable_and_its_restart_heals(
    engine: AsyncEngine, own_postgres: PostgresCluster
) -> None:
    assert await _read_count_users(engine) == 0
    own_postgres.stop()
    try:
        with pytest.raises(DatabaseUnavailable):
            await _read_count_users(engine)
    finally:
        own_postgres.start()
    assert await _read_count_users(engine) == 0


async def test_a_read_past_the_timeout_is_query_timeout_and_the_connection_heals(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    try:
        with pytest.raises(QueryTimeout):
            await session.read(lambda reads: _scalar(reads, _SLEEP, seconds=2))
    finally:
        await session.close()
    assert await _read_count_users(engine) == 0
    assert_no_leaks(await settled_connections(reliability_url, limit=1), limit=1)


async def test_a_read_cancelled_mid_statement_closes_its_connection_and_the_next_heals(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    task = asyncio.create_task(session.read(lambda reads: _scalar(reads, _SLEEP, seconds=0.25)))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await session.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _read_count_users(engine) == 0
    assert_no_leaks(await settled_connections(reliability_url, limit=1), limit=1)


async def test_a_connection_killed_mid_read_is_database_unavailable_and_the_next_read_heals(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    try:
        read = asyncio.create_task(session.read(lambda reads: _scalar(reads, _SLEEP, seconds=0.25)))
        await asyncio.sleep(0.1)
        await execute_sql(reliability_url, _KILL_ACTIVE_APP_CONNECTIONS)
        with pytest.raises(DatabaseUnavailable):
            await read
    finally:
        await session.close()
    assert await _read_count_users(engine) == 0


_KILL_ACTIVE_APP_CONNECTIONS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE application_name = 'gql_app' AND state = 'active'"
)
_WIDEN_USERNAME = "ALTER TABLE users ALTER COLUMN username TYPE varchar(60)"


async def _usernames(db: AsyncSession | Reads) -> list[str]:
    return list((await db.execute(text("SELECT username FROM users"))).scalars())


async def _read_in_session(session: RequestSession) -> list[str]:
    async with session.transaction() as db:
        return await _usernames(db)


async def _read_on_a_connection(session: RequestSession) -> list[str]:
    return await session.read(_usernames)


_RERUN = "statement made stale by a schema change; running {} again"


@pytest.mark.parametrize(
    ("read", "watched", "reruns"),
    [
        (_read_in_session, False, [_RERUN.format("the statement")]),
        # SQLAlchemy's way (statements watched): the read unit runs again.
        (_read_on_a_connection, True, [_RERUN.format("the read")]),
        # On the driver, outside a transaction, asyncpg prepares the statement anew itself.
        (_read_on_a_connection, False, []),
    ],
)
async def test_a_read_after_a_migration_reruns_its_stale_statement_unnoticed(
    engine: AsyncEngine,
    reliability_url: str,
    caplog: pytest.LogCaptureFixture,
    read: Callable[[RequestSession], Awaitable[list[str]]],
    watched: bool,
    reruns: list[str],
) -> None:
    caplog.set_level(logging.INFO, logger="gql_app.db")
    if watched:
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *_: None)
    session = request_session(engine)
    try:
        assert await read(session) == []
        await execute_sql(reliability_url, _WIDEN_USERNAME)
        assert await read(session) == []
    finally:
        await session.close()
    assert [r.getMessage() for r in caplog.records] == reruns


async def test_a_write_after_a_migration_fails_on_its_stale_statement_in_a_plain_transaction(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            assert await _usernames(db) == []
        await execute_sql(reliability_url, _WIDEN_USERNAME)
        with pytest.raises(DBAPIError) as caught:
            async with session.transaction(write=True) as db:
                await _usernames(db)
    finally:
        await session.close()
    assert is_stale_statement(caught.value)


async def test_a_unit_of_work_run_after_a_migration_is_rerun_once_and_succeeds(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    attempts: list[int] = []

    async def insert_then_read(db: AsyncSession) -> list[str]:
        attempts.append(1)
        await db.execute(_INSERT_USER, {"name": "after", "email": "after@example.org"})
        return await _usernames(db)

    try:
        assert await session.run(_usernames, write=True) == []
        await execute_sql(reliability_url, _WIDEN_USERNAME)
        usernames = await session.run(insert_then_read, write=True)
    finally:
        await session.close()
    assert (usernames, len(attempts)) == (["after"], 2)
    assert await _count_users(engine) == 1


_PASSWORD = "a long password"


async def _log_in(session: RequestSession, settings: Settings, _user: User) -> None:
    await accounts.login(session, settings, login="before", password=_PASSWORD, address="127.0.0.1")


async def _update_profile(session: RequestSession, _settings: Settings, user: User) -> None:
    await accounts.update_profile(session, user=user, username="before", email="b@example.org")


async def _change_password(session: RequestSession, settings: Settings, user: User) -> None:
    await accounts.change_password(
        session,
        settings,
        user=user,
        token_hash=None,
        current_password=_PASSWORD,
        new_password=_PASSWORD,
        address="127.0.0.1",
    )


@pytest.mark.parametrize("flow", [_log_in, _update_profile, _change_password])
async def test_an_account_flow_after_a_migration_reruns_its_unit_of_work_and_succeeds(
    engine: AsyncEngine,
    reliability_url: str,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    flow: Callable[[RequestSession, Settings, User], Awaitable[None]],
) -> None:
    session = request_session(engine)
    try:
        issued = await accounts.register(
            session, settings, username="before", email="b@example.org", password=_PASSWORD
        )
        await flow(session, settings, issued.user)  # prepares the flow's statements
        caplog.set_level(logging.INFO, logger="gql_app.db")
        await execute_sql(reliability_url, _WIDEN_USERNAME)
        await flow(session, settings, issued.user)
    finally:
        await session.close()
    reruns = {r.getMessage() for r in caplog.records if r.name.startswith("gql_app.db")}
    assert reruns == {_RERUN.format("the unit of work")}


async def test_objects_loaded_before_a_failed_unit_of_work_stay_readable(
    engine: AsyncEngine,
) -> None:
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            await db.execute(_INSERT_USER, {"name": "viewer", "email": "viewer@example.org"})
        async with session.transaction() as db:
            viewer = (await db.execute(select(User))).scalar_one()
        with pytest.raises(QueryTimeout):
            async with session.transaction() as db:
                await db.execute(_SLEEP, {"seconds": 2})
    finally:
        await session.close()
    assert viewer.username == "viewer"


async def test_closing_waits_for_the_unit_of_work_in_progress_and_refuses_later_ones(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    finished: list[int] = []

    async def sibling_that_outlives_the_operation() -> None:
        async with session.transaction() as db:
            await db.execute(_SLEEP, {"seconds": 0.2})
            finished.append(1)

    task = asyncio.create_task(sibling_that_outlives_the_operation())
    await asyncio.sleep(0.05)
    await session.close()
    await task
    with pytest.raises(SessionClosedError):
        async with session.transaction() as db:
            await db.execute(_COUNT_USERS)
    assert finished == [1]
    assert_no_leaks(await settled_connections(reliability_url, limit=1), limit=1)


async def test_a_server_out_of_connection_slots_is_database_busy(reliability_url: str) -> None:
    await execute_sql(reliability_url, *_LIMITED_ROLE)
    url = make_url(reliability_url).set(username="limited").render_as_string(False)
    engine = create_engine(reliability_settings(url))
    try:
        with pytest.raises(DatabaseBusy):
            await _count_users(engine)
    finally:
        await engine.dispose()
