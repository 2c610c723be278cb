"""The engine factory: per-dialect connection settings and the request session lifecycle."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gql_app.config import load_settings
from gql_app.db import (
    APPLICATION_NAME,
    RequestSession,
    SessionClosedError,
    create_engine,
    create_sessionmaker,
)


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
    session = RequestSession(create_sessionmaker(engine))
    try:
        with pytest.raises(RuntimeError):
            async with session.transaction(write=True) as db:
                await db.execute(
                    text("INSERT INTO users (username, email, password_hash) VALUES (:u, :e, :p)"),
                    {"u": "ghost", "e": "g@x.io", "p": "h"},
                )
                raise RuntimeError("after the first write")
        async with session.transaction() as db:
            count = (await db.execute(text("SELECT count(*) FROM users"))).scalar_one()
    finally:
        await session.close()
    assert count == 0


async def test_a_closed_request_session_returns_its_connection(engine: AsyncEngine) -> None:
    session = RequestSession(create_sessionmaker(engine))
    async with session.transaction() as db:
        await db.execute(text("SELECT 1"))
    await session.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_units_of_work_of_one_request_never_overlap(engine: AsyncEngine) -> None:
    session = RequestSession(create_sessionmaker(engine))
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
    session = RequestSession(create_sessionmaker(engine))

    async def one(connection: AsyncConnection) -> Any:
        return (await connection.execute(text("SELECT 1"))).scalar_one()

    value = await session.read(one)
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    await session.close()
    with pytest.raises(SessionClosedError):
        await session.read(one)
    assert value == 1
    assert checked_out == 0
