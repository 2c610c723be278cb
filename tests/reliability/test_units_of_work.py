"""Read units of work run in autocommit on PostgreSQL: between their statements the
connection is idle, never `idle in transaction` (DESIGN.md contract 2), and they cannot write."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app.core.config import Settings
from gql_app.db import (
    Reads,
    ReadUnitWroteError,
    create_engine,
)
from gql_app.db.models import User
from tests.reliability.conftest import app_connections, reliability_settings
from tests.support.sessions import request_session

_COUNT_USERS = text("SELECT count(*) FROM users")


@pytest.fixture
def settings(reliability_url: str) -> Settings:
    """The app's settings with a pool of one, pinged at every checkout: `engine`
    (tests/conftest.py) uses them."""
    return reliability_settings(reliability_url, db_pool_size=1, db_ping_after_seconds=0)


async def test_a_read_unit_leaves_its_connection_idle_between_statements(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    try:
        async with session.transaction() as db:
            await db.execute(_COUNT_USERS)
            between = [connection.state for connection in await app_connections(reliability_url)]
            await db.execute(_COUNT_USERS)
    finally:
        await session.close()
    assert between == ["idle"]


async def test_a_core_read_unit_leaves_its_connection_idle_between_statements(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)

    async def work(connection: Reads) -> list[str]:
        await connection.execute(_COUNT_USERS)
        between = [state.state for state in await app_connections(reliability_url)]
        await connection.execute(_COUNT_USERS)
        return between

    try:
        between = await session.read(work)
    finally:
        await session.close()
    assert between == ["idle"]


async def test_a_core_read_unit_that_writes_is_refused_and_writes_nothing(
    engine: AsyncEngine,
) -> None:
    session = request_session(engine)
    row = {"username": "sneaky", "email": "sneaky@example.org", "password_hash": "hash"}

    async def write(connection: Reads) -> None:
        await connection.execute(insert(User).values(row))

    async def count(connection: Reads) -> int:
        return int((await connection.execute(_COUNT_USERS)).scalar_one())

    try:
        with pytest.raises(ReadUnitWroteError):
            await session.read(write)
        users = await session.read(count)
    finally:
        await session.close()
    assert users == 0


async def test_a_write_unit_holds_its_transaction_until_it_ends(
    engine: AsyncEngine, reliability_url: str
) -> None:
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            await db.execute(_COUNT_USERS)
            between = [connection.state for connection in await app_connections(reliability_url)]
    finally:
        await session.close()
    assert between == ["idle in transaction"]


async def test_a_read_unit_that_writes_is_refused_and_writes_nothing(engine: AsyncEngine) -> None:
    session = request_session(engine)
    row = {"username": "sneaky", "email": "sneaky@example.org", "password_hash": "hash"}
    try:
        with pytest.raises(ReadUnitWroteError):
            async with session.transaction() as db:
                await db.execute(insert(User).values(row))
        async with session.transaction() as db:
            count = (await db.execute(_COUNT_USERS)).scalar_one()
    finally:
        await session.close()
    assert count == 0


async def test_the_pre_ping_of_a_checkout_runs_outside_any_transaction(
    engine: AsyncEngine, reliability_url: str
) -> None:
    async with engine.connect() as connection:  # a fresh connection: no ping
        await connection.execute(_COUNT_USERS)
    async with engine.connect():  # the pooled connection again: pinged, nothing run since
        pinged = await app_connections(reliability_url)
    assert [(connection.state, connection.query) for connection in pinged] == [("idle", ";")]


async def _pinged_at_second_checkout(url: str, idle_seconds: float) -> bool:
    """Whether the second checkout of the pool's one connection ran anything (a ping)."""
    engine = create_engine(reliability_settings(url, db_pool_size=1, db_ping_after_seconds=0.5))
    try:
        async with engine.connect() as connection:
            await connection.execute(_COUNT_USERS)
        await asyncio.sleep(idle_seconds)
        before = [c.query for c in await app_connections(url)]
        async with engine.connect():
            during = [c.query for c in await app_connections(url)]
        return before != during
    finally:
        await engine.dispose()


async def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    reliability_url: str,
) -> None:
    assert not await _pinged_at_second_checkout(reliability_url, 0)


async def test_a_connection_idle_in_the_pool_past_the_ping_interval_is_pinged(
    reliability_url: str,
) -> None:
    assert await _pinged_at_second_checkout(reliability_url, 0.7)
