"""The reliability suite's own servers: a PostgreSQL cluster the tests may stop and start,
PgBouncer in front of it, and the app's connections as `pg_stat_activity` sees them.

Every test gets a fresh database, copied from a template migrated once per session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from gql_app import migrate, queries
from gql_app.config import Settings, load_settings
from gql_app.db import APPLICATION_NAME, create_engine
from tests.conftest import IN_CI, PostgresCluster, run_async_blocking
from tests.reliability.pgbouncer import PgBouncer, pgbouncer_binary, running_pgbouncer

DATABASE = "gql_app_reliability"
TEMPLATE = "gql_app_reliability_template"
# Identifiers cannot be bound parameters: each statement names its database literally.
_CREATE_TEMPLATE = "CREATE DATABASE gql_app_reliability_template"
_RECREATE = (
    "DROP DATABASE IF EXISTS gql_app_reliability WITH (FORCE)",
    "CREATE DATABASE gql_app_reliability TEMPLATE gql_app_reliability_template",
)


def database_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


async def execute_sql(url: str, *statements: str) -> None:
    """Run `statements` on a connection of their own, each committed."""
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def own_postgres(postgres_bindir: Path) -> Iterator[PostgresCluster]:
    """A cluster of this suite's own, with the template database at the head migration."""
    cluster = PostgresCluster(postgres_bindir)
    cluster.init()
    cluster.start()
    try:
        run_async_blocking(execute_sql(cluster.url, _CREATE_TEMPLATE))
        template = database_url(cluster.port, TEMPLATE)
        run_async_blocking(migrate.upgrade(load_settings(database_url=template)))
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
async def reliability_url(own_postgres: PostgresCluster) -> str:
    """A fresh, migrated database on the suite's own cluster (started if a test stopped it)."""
    if not (own_postgres.data / "postmaster.pid").exists():
        own_postgres.start()
    await execute_sql(own_postgres.url, *_RECREATE)
    return database_url(own_postgres.port)


async def app_connections(url: str) -> list[tuple[str, float]]:
    """The app's connections to the server of `url`: (state, seconds in that state) each."""
    engine = create_engine(load_settings(database_url=url), pooled=False)
    try:
        async with engine.connect() as connection:
            return await queries.connection_states(connection, APPLICATION_NAME)
    finally:
        await engine.dispose()


async def settled_connections(url: str, limit: int, seconds: float = 10) -> list[str]:
    """The states of the app's connections once none is busy and at most `limit` remain
    (or as they are after `seconds`): what contract 2 and issue 5's "no leaks" ask."""
    deadline = time.monotonic() + seconds
    while True:
        states = [state for state, _ in await app_connections(url)]
        settled = len(states) <= limit and all(state == "idle" for state in states)
        if settled or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.1)


def assert_no_leaks(states: list[str], limit: int) -> None:
    assert len(states) <= limit, states
    assert set(states) <= {"idle"}, states


@pytest.fixture(scope="session")
def pgbouncer(own_postgres: PostgresCluster) -> Iterator[PgBouncer]:
    """PgBouncer (the Debian package's binary) in front of the suite's cluster."""
    binary = pgbouncer_binary()
    if binary is None:
        reason = "PgBouncer NOT TESTED: no pgbouncer binary (Debian: apt-get install pgbouncer)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    with running_pgbouncer(binary, own_postgres.port, server_pool_size=4) as bouncer:
        yield bouncer


def reliability_settings(url: str, **overrides: object) -> Settings:
    """Settings for the app under test, on `url`, with small pools unless told otherwise."""
    defaults: dict[str, object] = {"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout": 1}
    return load_settings(database_url=url, **(defaults | overrides))


@asynccontextmanager
async def holding(url: str, statement: str, *args: object) -> AsyncIterator[None]:
    """A side transaction that ran `statement` (say, a `FOR UPDATE`) and stays open, its locks
    held, until the block ends: what makes the app's requests wait, for real."""
    connection = await asyncpg.connect(url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(statement, *args)
        yield
    finally:
        await transaction.rollback()
        await connection.close()
