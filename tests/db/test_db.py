"""The engine factory: per-dialect connection settings and the request session lifecycle."""

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Select, TextClause, event, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.core.paging import Page
from gql_app.db import (
    APPLICATION_NAME,
    Reads,
    RequestSession,
    SessionClosedError,
    create_engine,
    one_of,
)
from gql_app.db.models import User
from gql_app.domain.seed import seed
from tests.support.sessions import request_session


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_connections_enforce_foreign_keys_with_wal_and_busy_timeout(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        pragmas = [
            (await connection.execute(text(statement))).scalar_one()
            for statement in ("PRAGMA foreign_keys", "PRAGMA journal_mode", "PRAGMA busy_timeout")
        ]
    assert pragmas == [1, "wal", 5000]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgres_connections_carry_application_name_and_statement_timeout(
    database_url: str,
) -> None:
    engine = create_engine(load_settings(database_url=database_url, db_statement_timeout_ms=1234))
    try:
        async with engine.connect() as connection:
            name = (await connection.execute(text("SHOW application_name"))).scalar_one()
            timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
    finally:
        await engine.dispose()
    assert (name, timeout) == (APPLICATION_NAME, "1234ms")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_postgres_pool_follows_the_settings(database_url: str) -> None:
    engine = create_engine(
        load_settings(database_url=database_url, db_pool_size=3, db_max_overflow=1)
    )
    try:
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_unit_of_work_that_raises_rolls_back(engine: AsyncEngine) -> None:
    session = request_session(engine)

    async def write_then_raise() -> None:
        async with session.transaction(write=True) as db:
            await db.execute(
                text("INSERT INTO users (username, email, password_hash) VALUES (:u, :e, :p)"),
                {"u": "ghost", "e": "g@x.io", "p": "h"},
            )
            raise RuntimeError("after the first write")

    try:
        with pytest.raises(RuntimeError, match="after the first write"):
            await write_then_raise()
        async with session.transaction() as db:
            count = (await db.execute(text("SELECT count(*) FROM users"))).scalar_one()
    finally:
        await session.close()
    assert count == 0


async def test_a_closed_request_session_returns_its_connection(engine: AsyncEngine) -> None:
    session = request_session(engine)
    async with session.transaction() as db:
        await db.execute(text("SELECT 1"))
    await session.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_units_of_work_of_one_request_never_overlap(engine: AsyncEngine) -> None:
    session = request_session(engine)
    running: list[int] = []
    overlaps: list[int] = []

    async def body(number: int, run: Callable[[], Awaitable[Any]]) -> int:
        if running:
            overlaps.append(number)
        running.append(number)
        await asyncio.sleep(0.01)
        value = (await run()).scalar_one()
        running.remove(number)
        return int(value) + number

    async def unit(number: int) -> int:
        if number % 2:
            return await session.read(
                lambda connection: body(number, lambda: connection.execute(text("SELECT 1")))
            )
        async with session.transaction() as db:
            return await body(number, lambda: db.execute(text("SELECT 1")))

    try:
        results = await asyncio.gather(*(unit(n) for n in range(10)))
    finally:
        await session.close()
    assert results == [n + 1 for n in range(10)]
    assert overlaps == []


async def test_a_core_read_unit_returns_its_connection_and_none_runs_after_close(
    engine: AsyncEngine,
) -> None:
    session = request_session(engine)

    async def one(connection: Reads) -> Any:
        return (await connection.execute(text("SELECT 1"))).scalar_one()

    value = await session.read(one)
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    await session.close()
    with pytest.raises(SessionClosedError):
        await session.read(one)
    assert value == 1
    assert checked_out == 0


async def _read_queries(db: RequestSession, keys: list[int]) -> list[Any]:
    """What every read query of `queries` returns for `keys`, as plain values, and the
    keyset key of each page row (`Keyset.key_of`)."""
    first = Page(limit=2)
    results: list[Any] = []
    projections: tuple[frozenset[str] | None, ...] = (None, frozenset())
    for by_ids in (queries.users_by_ids, queries.posts_by_ids, queries.comments_by_ids):
        for columns in projections:
            rows = await db.read(partial(by_ids, ids=keys, columns=columns))
            results.append({pk: tuple(row) for pk, row in rows.items()})
    for keyset in (queries.USERS_BY_USERNAME, queries.POSTS_NEWEST, queries.COMMENTS_OLDEST):
        for columns in projections:
            read = partial(queries.page_of, keyset=keyset, columns=columns)
            page = await db.read(partial(read, page=first))
            rest = await db.read(partial(read, page=first._replace(after=keyset.key_of(page[-1]))))
            results.append([(tuple(row), keyset.key_of(row)) for row in (*page, *rest)])
    matching = partial(queries.count_of, table=User, username_contains="%user%")
    results.append(await db.read(matching))
    for relation in queries.RELATIONS:
        for columns in projections:
            pages = await db.read(
                partial(
                    queries.related_pages,
                    relation=relation,
                    parent_ids=keys,
                    page=first,
                    columns=columns,
                )
            )
            results.append({pk: [tuple(row) for row in rows] for pk, rows in pages.items()})
        counts = await db.read(partial(queries.related_counts, relation=relation, parent_ids=keys))
        results.append(counts)
    return results


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_reads_on_the_driver_return_what_sqlalchemy_returns(
    engine: AsyncEngine, db: RequestSession
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=4, posts_per_user=3, comments_per_post=2)
    keys = [1, 2, 3, 5, 999]
    on_the_driver = await _read_queries(db, keys)
    event.listen(engine.sync_engine, "before_cursor_execute", _watch)  # SQLAlchemy's way
    try:
        on_sqlalchemy = await _read_queries(db, keys)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", _watch)
    assert on_the_driver == on_sqlalchemy
    assert on_the_driver[0][1][1] == "user00001"  # not both empty
    assert on_the_driver[1][1][2] is None  # a lean lookup: no email


def _watch(*_: object) -> None:
    """A statement listener: reads then take SQLAlchemy's way (`db._observed`)."""


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_read_on_the_driver_wants_exactly_one_row_for_scalar_one(
    db: RequestSession,
) -> None:
    statement = text("SELECT generate_series(1, :rows)")
    with pytest.raises(NoResultFound):
        await db.read(lambda reads: _scalar_one(reads, statement, 0))
    with pytest.raises(MultipleResultsFound):
        await db.read(lambda reads: _scalar_one(reads, statement, 2))
    assert await db.read(lambda reads: _scalar_one(reads, statement, 1)) == 1


async def _scalar_one(reads: Reads, statement: TextClause, rows: int) -> Any:
    return (await reads.execute(statement, {"rows": rows})).scalar_one()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_rows_read_by_position_on_the_driver_leave_the_garbage_collectors_watch(
    db: RequestSession,
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=3, posts_per_user=0, comments_per_post=0)
    rows = await db.read(lambda reads: queries.users_by_ids(reads, [1, 2, 3]))
    assert [type(row) for row in rows.values()] == [tuple] * 3
    gc.collect()
    assert not any(gc.is_tracked(row) for row in rows.values())


def test_one_of_binds_one_array_on_postgres_and_expands_elsewhere() -> None:
    statement = select(User.id).where(one_of(User.id, "ids"))
    postgres = str(statement.compile(dialect=PGDialect_asyncpg()))  # type: ignore[no-untyped-call]
    sqlite_ = str(statement.compile(dialect=sqlite.dialect()))
    assert postgres.endswith("WHERE users.id = ANY ($1::BIGINT[])"), postgres
    assert sqlite_.endswith("WHERE users.id IN (__[POSTCOMPILE_ids])"), sqlite_


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_read_on_the_driver_expands_an_in_list(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=3, posts_per_user=0, comments_per_post=0)
    statement = select(User.username).where(User.id.in_([1, 3])).order_by(User.id)
    usernames = await db.read(lambda reads: _scalars(reads, statement))
    assert usernames == ["user00001", "user00003"]


async def _scalars(reads: Reads, statement: Select[str]) -> list[str]:
    return list((await reads.execute(statement)).scalars())


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_reads_past_the_pool_size_close_their_overflow_connections_cleanly(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(
        load_settings(database_url=database_url, db_pool_size=1, db_max_overflow=4)
    )
    sessions = [request_session(engine) for _ in range(5)]
    try:
        with caplog.at_level(logging.WARNING):
            await asyncio.gather(
                *(
                    session.read(lambda db: db.execute(text("SELECT pg_sleep(0.05)")))
                    for session in sessions
                )
            )
        async with engine.connect() as connection:
            open_connections = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": APPLICATION_NAME},
                )
            ).scalar_one()
    finally:
        for session in sessions:
            await session.close()
        await engine.dispose()
    assert [record.getMessage() for record in caplog.records] == []
    assert open_connections == 0  # the overflow connections were closed, not left behind
