"""Reads on streaming replicas (gql_app/db/replicas.py): where units of work go, and what
a replica that lags, stops or comes back does to them. Real servers: a primary and a
replica of it made with `pg_basebackup -R` (the `replicated` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.engine import make_url

from gql_app.core.config import load_settings
from gql_app.core.metrics import flush
from gql_app.core.resources import resources_of
from gql_app.db import APPLICATION_NAME, parse_position, replicas_of
from tests.support.app import AppWith, StatementLog, graphql, graphql_data, running_app
from tests.support.postgres import PostgresCluster, Replicated, execute_sql
from tests.support.replicas import (
    POSTS,
    in_rotation,
    pause_replay,
    register,
    replica_report,
    resume_replay,
)

REPLICA_POOL = f"{APPLICATION_NAME}_replica_1"
USERS = "{ users(first: 1) { edges { node { username } } } }"
LIST_OF_USERS = "FROM users ORDER BY"
SECOND_POOL = f"{APPLICATION_NAME}_replica_2"
TITLES = "{ posts(first: 1) { edges { node { title } } } }"
LIST_OF_TITLES = "FROM posts ORDER BY"
# The author is read by a DataLoader after the write: on the primary.
CREATE_POST_AND_AUTHOR = """
mutation {
  createPost(input: {title: "t", body: "b"}) {
    ... on CreatePostSuccess { post { author { username } } }
  }
}
"""


async def last_statements(url: str, application_name: str) -> list[str]:
    """The last statement of each connection of `application_name` on the server of `url`."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT query FROM pg_stat_activity WHERE application_name = $1", application_name
        )
    finally:
        await connection.close()
    return [row["query"] for row in rows]


def test_a_wal_position_is_read_as_postgresql_writes_it() -> None:
    assert parse_position("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_position("0/0") == 0


@pytest.mark.parametrize("text", ["", "16", "16/", "/1", "1/2/3", "x/1", "123456789/0", None])
def test_what_is_not_a_wal_position_is_none(text: str | None) -> None:
    assert parse_position(text) is None


async def test_reads_go_to_the_replica_and_writes_and_what_follows_them_to_the_primary(
    replicated: Replicated, replicated_app: AppWith
) -> None:
    async with replicated_app() as client:
        user = await register(client)
        await graphql(client, USERS)  # one statement: a page of users
        on_replica = sorted(await last_statements(replicated.replica_url, REPLICA_POOL))
        assert any(LIST_OF_USERS in statement for statement in on_replica), on_replica
        on_primary = await last_statements(replicated.primary_url, APPLICATION_NAME)
        assert not any(LIST_OF_USERS in statement for statement in on_primary), on_primary
        created = await graphql(client, CREATE_POST_AND_AUTHOR, headers=user.headers)
        assert created["data"]["createPost"]["post"]["author"]["username"]
        assert sorted(await last_statements(replicated.replica_url, REPLICA_POOL)) == on_replica
        on_primary = await last_statements(replicated.primary_url, APPLICATION_NAME)
        assert any("pg_current_wal_insert_lsn" in statement for statement in on_primary)


def _sample(name: str, pool: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"pool": pool})


@pytest.mark.usefixtures("metrics_on")
async def test_each_pool_reports_its_figures_under_its_own_pool_label(
    replicated_app: AppWith,
) -> None:
    async with replicated_app(metrics_port=9, db_pool_size=3, db_replica_pool_size=2) as client:
        await in_rotation(client)
        waits = "gql_app_db_pool_wait_seconds_count"
        flush()  # waits are counted, and written when the figures flush
        before = _sample(waits, "replica_1") or 0
        await graphql_data(client, USERS)  # a read on the replica, whose pool opens a connection
        flush()
        assert _sample(waits, "replica_1") == before + 1
        sizes = {
            pool: _sample("gql_app_db_pool_size", pool)
            for pool in ("primary", "replica_1", "primary_check", "replica_1_check")
        }
    assert sizes == {"primary": 3, "replica_1": 2, "primary_check": 1, "replica_1_check": 1}


async def test_a_replica_lagging_beyond_the_limit_leaves_rotation_until_it_catches_up(
    replicated: Replicated, replicated_app: AppWith
) -> None:
    async with replicated_app(replica_max_lag_ms=200) as client:
        await in_rotation(client)
        await pause_replay(replicated)
        try:
            await register(client)  # WAL the paused replica does not replay
            await in_rotation(client, wanted=False)
            assert (await replica_report(client))["problem"].startswith("lagging")
        finally:
            await resume_replay(replicated)
        await in_rotation(client)


async def test_in_pgbouncer_mode_reads_go_to_the_replica_in_transactions_with_the_timeout(
    replicated: Replicated,
) -> None:
    settings = load_settings(
        database_url=replicated.primary_url,
        database_replica_urls=replicated.replica_url,
        db_pgbouncer=True,
        # No PgBouncer runs here: the listen URL is the primary itself, spelled apart from
        # DATABASE_URL as start-up wants it in PgBouncer mode.
        listen_database_url=replicated.primary_url.replace("postgresql://", "postgres://", 1),
    )
    async with running_app(settings) as (app, client):
        await graphql_data(client, USERS)
        # Not straight on the driver, in autocommit: each read unit is a transaction.
        assert await last_statements(replicated.replica_url, REPLICA_POOL) == ["COMMIT;"]
        primary = resources_of(app).engine
        replicas = replicas_of(primary)
        assert replicas is not None
        on_primary, on_replica = StatementLog(), StatementLog()
        for engine, log in ((primary, on_primary), (replicas.replicas[0].engine, on_replica)):
            event.listen(engine.sync_engine, "before_cursor_execute", _recorder(log))
        await graphql_data(client, USERS)
    timeout, listed = on_replica.queries()
    assert "statement_timeout" in timeout
    assert LIST_OF_USERS in listed
    assert not any(LIST_OF_USERS in statement for statement in on_primary.queries())


def _recorder(log: StatementLog) -> Callable[..., None]:
    def record(*args: object) -> None:
        log.statements.append(str(args[2]))

    return record


async def test_a_read_that_finds_the_replica_pool_full_runs_on_the_primary(
    replicated: Replicated,
) -> None:
    settings = load_settings(
        database_url=replicated.primary_url,
        database_replica_urls=replicated.replica_url,
        db_replica_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=0.2,
    )
    async with running_app(settings) as (app, client):
        replicas = replicas_of(resources_of(app).engine)
        assert replicas is not None
        held = await replicas.replicas[0].engine.raw_connection()  # the pool's one connection
        try:
            assert "users" in await graphql_data(client, USERS)
        finally:
            held.close()
        assert (await replica_report(client))["inRotation"] is True


@pytest.fixture
def second_replica(replicated: Replicated, postgres_bindir: Path) -> Iterator[PostgresCluster]:
    """One more replica of the `replicated` primary, for a test that may promote it."""
    cluster = PostgresCluster(postgres_bindir)
    try:
        cluster.init_replica_of(replicated.primary)
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def test_a_promoted_replica_leaves_rotation_and_its_reads_go_elsewhere(
    replicated: Replicated, replicated_app: AppWith, second_replica: PostgresCluster
) -> None:
    promoted = make_url(second_replica.url).set(database=replicated.database)
    promoted_url = promoted.render_as_string(False)
    async with replicated_app(
        database_replica_urls=f"{replicated.replica_url},{promoted_url}"
    ) as client:
        await in_rotation(client, number=2)
        for _ in range(2):  # one read on each replica, in turn
            await graphql_data(client, USERS)
        assert any(
            LIST_OF_USERS in query for query in await last_statements(promoted_url, SECOND_POOL)
        )
        await execute_sql(second_replica.url, "SELECT pg_promote()")
        await in_rotation(client, wanted=False, number=2)
        assert (await replica_report(client, 2))["problem"].startswith("promoted")
        for _ in range(2):
            await graphql_data(client, TITLES)
        on_promoted = await last_statements(promoted_url, SECOND_POOL)
        assert not any(LIST_OF_TITLES in query for query in on_promoted), on_promoted
        on_first = await last_statements(replicated.replica_url, REPLICA_POOL)
        assert any(LIST_OF_TITLES in query for query in on_first), on_first


async def test_stopping_the_replica_under_load_gives_no_client_error(
    replicated: Replicated, replicated_app: AppWith
) -> None:
    async with replicated_app() as client:
        await in_rotation(client)
        stopped = asyncio.Event()
        answers: list[dict[str, object]] = []

        async def reader() -> None:
            while len(answers) < 200 or not stopped.is_set():
                answers.append(await graphql(client, POSTS))

        readers = [asyncio.ensure_future(reader()) for _ in range(4)]
        try:
            await asyncio.to_thread(replicated.replica.stop)
            stopped.set()
            await asyncio.gather(*readers)
            assert [answer for answer in answers if "errors" in answer] == []
            report = await replica_report(client)
            assert report["reachable"] is False
            assert report["inRotation"] is False
        finally:
            stopped.set()
            await asyncio.gather(*readers, return_exceptions=True)
            await asyncio.to_thread(replicated.replica.start)
        await in_rotation(client)
