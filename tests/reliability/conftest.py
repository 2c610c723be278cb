"""The reliability suite's own servers: a PostgreSQL cluster the tests may stop and start,
PgBouncer in front of it, and the app's connections as `pg_stat_activity` sees them.

Every test gets a fresh database, copied from a template migrated once per session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gql_app import queries
from gql_app.core.config import Settings, load_settings
from gql_app.db import APPLICATION_NAME, create_engine, migrate
from gql_app.domain.security import new_token
from gql_app.graphql.ids import encode_global_id
from tests.reliability.pgbouncer import (
    PgBouncer,
    pgbouncer_binary,
    running_pgbouncer,
)
from tests.support.app import post_graphql
from tests.support.postgres import PostgresCluster, execute_sql, run_async_blocking, unavailable

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


async def app_connections(url: str) -> list[queries.ConnectionState]:
    """The app's connections to the server of `url`, as `pg_stat_activity` shows them."""
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
        states = [connection.state for connection in await app_connections(url)]
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
        unavailable("no pgbouncer binary (Debian: apt-get install pgbouncer)")
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


@dataclass(frozen=True)
class Blog:
    """What `seed_blog` wrote: one author (signed in with `token`) and their posts."""

    author_id: int
    token: str
    post_ids: tuple[int, ...]

    def post(self, index: int = 0) -> str:
        """The global id of post `index`."""
        return encode_global_id("Post", self.post_ids[index])


async def seed_blog(url: str, posts: int = 3) -> Blog:
    """An author with a live bearer token and `posts` posts, written straight to the database."""
    token, token_hash = new_token()
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            author = await connection.fetchval(
                "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)"
                " RETURNING id",
                "author",
                "author@example.org",
                "not a hash: this user never logs in",
            )
            await connection.execute(
                "INSERT INTO auth_tokens (user_id, token_hash, expires_at)"
                " VALUES ($1, $2, now() + interval '1 day')",
                author,
                token_hash,
            )
            post_ids = [
                await connection.fetchval(
                    "INSERT INTO posts (author_id, title, body) VALUES ($1, $2, $3) RETURNING id",
                    author,
                    f"post {number}",
                    "body",
                )
                for number in range(posts)
            ]
    finally:
        await connection.close()
    return Blog(author_id=author, token=token, post_ids=tuple(post_ids))


@pytest.fixture
async def blog(reliability_url: str) -> Blog:
    return await seed_blog(reliability_url)


POSTS = """
query Posts { posts(first: 3) { edges { node { id title author { username }
  comments(first: 3) { edges { node { body author { username } } } } } } } }"""
UPDATE_POST = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { __typename ... on UpdatePostSuccess { post { title body } } } }"""
ADD_COMMENT = """
mutation Comment($input: AddCommentInput!) {
  addComment(input: $input) { __typename ... on AddCommentSuccess { comment { id body } } } }"""


def error_codes(response: httpx.Response) -> list[str]:
    """The `extensions.code` of each GraphQL error of `response` (none: an empty list)."""
    errors = response.json().get("errors") or []
    return [str((error.get("extensions") or {}).get("code")) for error in errors]


def succeeded(response: httpx.Response) -> bool:
    """A 200 whose data has no errors and no typed failure (`__typename` ending in Success)."""
    if response.status_code != 200 or response.json().get("errors"):
        return False
    payloads = response.json()["data"].values()
    return all(
        not isinstance(payload, dict) or payload.get("__typename", "Success").endswith("Success")
        for payload in payloads
    )


@dataclass(frozen=True)
class Call:
    """One GraphQL request a stream sends: request `n` has `variables(n)`."""

    query: str
    variables: Callable[[int], dict[str, Any]] = lambda _n: {}
    token: str | None = None


def mixed_calls(blog: Blog) -> list[Call]:
    """Reads of posts with authors and comments, comments added, posts updated."""

    def comment(n: int) -> dict[str, Any]:
        return {"input": {"postId": blog.post(n % len(blog.post_ids)), "body": f"comment {n}"}}

    def update(n: int) -> dict[str, Any]:
        post = blog.post(n % len(blog.post_ids))
        return {"input": {"id": post, "title": f"title {n}", "body": f"body {n}"}}

    return [
        Call(POSTS),
        Call(ADD_COMMENT, comment, blog.token),
        Call(POSTS),
        Call(UPDATE_POST, update, blog.token),
    ]


@dataclass(frozen=True)
class Outcome:
    ended: float  # time.monotonic() when the response came
    seconds: float
    what: str  # "ok", the GraphQL error codes, or the response when it is neither


@dataclass
class Stream:
    """A steady stream of requests from `clients` concurrent clients cycling through `calls`."""

    client: httpx.AsyncClient
    calls: list[Call]
    outcomes: list[Outcome] = field(default_factory=list)
    _running: bool = True
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, clients: int) -> None:
        self._tasks = [asyncio.create_task(self._client(n, clients)) for n in range(clients)]

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)

    async def _client(self, start: int, step: int) -> None:
        n = start
        while self._running:
            call = self.calls[n % len(self.calls)]
            began = time.monotonic()
            response = await post_graphql(self.client, call.query, call.variables(n), call.token)
            ended = time.monotonic()
            if succeeded(response):
                what = "ok"
            else:
                what = ",".join(error_codes(response)) if response.status_code == 200 else ""
            self.outcomes.append(Outcome(ended, ended - began, what or response.text))
            n += step
            await asyncio.sleep(0.01)

    def kinds(self) -> set[str]:
        return {outcome.what for outcome in self.outcomes}

    def between(self, start: float, end: float) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if start <= outcome.ended < end]
