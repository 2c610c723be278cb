"""Shared fixtures: real PostgreSQL and SQLite databases, built by the migrations, and the app.

PostgreSQL comes from `TEST_DATABASE_URL`, or from a throwaway cluster this session starts
with `initdb`/`pg_ctl` (as the `postgres` user when run as root) and removes at the end.
Every database-facing test runs on both backends through the `settings` fixture. The
helpers the fixtures and tests share live in tests/support/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from asyncpg.connection import LoggedQuery
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import queries
from gql_app.core.config import Settings, load_settings
from gql_app.core.resources import resources_of
from gql_app.db import RequestSession, create_engine, migrate
from gql_app.db.models import utcnow
from gql_app.domain import security
from gql_app.domain.security import new_token, password_context
from gql_app.graphql.execution.plan import ObjectPlan
from gql_app.graphql.execution.run import Run
from gql_app.graphql.ids import decode_id_of, encode_global_id
from tests.support.app import (
    EPOCH,
    AppWith,
    AuthUser,
    CompiledRuns,
    MakeComment,
    MakePost,
    MakeUser,
    StatementLog,
    bearer_headers,
    running_app,
)
from tests.support.postgres import (
    _RECREATE,
    _TRUNCATE,
    IN_CI,
    REPLICATED_DB,
    SCRATCH_DB,
    TEST_DB,
    UNICODE_DB,
    Postgres,
    PostgresCluster,
    Replicated,
    _asyncpg_dsn,
    _postgres_bindir,
    _postgres_skip_reason,
    _recreate_database,
    execute_sql,
    require_postgres,
    run_async_blocking,
    unavailable,
)
from tests.support.sessions import request_session

T = TypeVar("T")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres | None]:
    """The session's PostgreSQL, or None (tests on it skip, loudly; under CI=true, fail)."""
    given = os.environ.get("TEST_DATABASE_URL")
    cluster: PostgresCluster | None = None
    if given:
        url = given
    else:
        bindir = _postgres_bindir()
        if bindir is None:
            reason = "no PostgreSQL server binaries (initdb) and no TEST_DATABASE_URL"
            if IN_CI:
                pytest.fail(f"CI=true but PostgreSQL is unavailable: {reason}")
            _postgres_skip_reason.append(reason)
            yield None
            return
        cluster = PostgresCluster(bindir)
        cluster.init()
        cluster.start()
        run_async_blocking(_recreate_database(cluster.url, TEST_DB))
        url = make_url(cluster.url).set(database=TEST_DB).render_as_string(False)
    server = Postgres(url=url, cluster=cluster)
    run_async_blocking(migrate.upgrade(load_settings(database_url=url)))
    try:
        yield server
    finally:
        if cluster is not None:
            cluster.remove()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated to head once, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    run_async_blocking(migrate.upgrade(load_settings(database_url=f"sqlite+aiosqlite:///{path}")))
    return path


@pytest.fixture(scope="session", autouse=True)
def light_password_hashing() -> Iterator[None]:
    """argon2id at a light cost: the suite hashes hundreds of passwords, and the production
    cost (`security.ARGON2_*`) is not what the tests are about."""
    production = password_context.to_dict()
    password_context.update(argon2__memory_cost=1024, argon2__rounds=1, argon2__parallelism=1)
    try:
        yield
    finally:
        password_context.load(production)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_skip_reason:
        terminalreporter.write_sep(
            "!", f"PostgreSQL tests NOT RUN: {_postgres_skip_reason[0]}", red=True, bold=True
        )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on: each database test runs on both."""
    name: str = request.param
    return name


@pytest.fixture
async def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database at the head migration, on the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    server = require_postgres(request.getfixturevalue("postgres"))
    connection = await asyncpg.connect(_asyncpg_dsn(server.url))
    try:
        await connection.execute(_TRUNCATE)
    finally:
        await connection.close()
    return server.url


@pytest.fixture
def postgres_server(postgres: Postgres | None) -> Postgres:
    """PostgreSQL for the tests that only make sense there."""
    return require_postgres(postgres)


@pytest.fixture(scope="session")
def postgres_bindir() -> Path:
    """The PostgreSQL server binaries, for tests that start (and stop) servers of their own."""
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb)")
    return bindir


@pytest.fixture(scope="session")
def replicated(postgres_bindir: Path) -> Iterator[Replicated]:
    """A primary and a streaming replica of it (`pg_basebackup -R`), made once per session
    when a test asks: the database `REPLICATED_DB` at head on both. A test that stops the
    replica or pauses its replay starts or resumes it before it ends."""
    primary = PostgresCluster(postgres_bindir)
    replica = PostgresCluster(postgres_bindir)
    primary.init()
    primary.start()
    try:
        run_async_blocking(execute_sql(primary.url, *_RECREATE[REPLICATED_DB]))
        pair = Replicated(primary, replica, REPLICATED_DB)
        run_async_blocking(migrate.upgrade(load_settings(database_url=pair.primary_url)))
        replica.init_replica_of(primary)
        replica.start()
        yield pair
    finally:
        replica.remove()
        primary.remove()


@pytest.fixture
async def scratch_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no migrations applied), on the test's backend."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
    server = require_postgres(request.getfixturevalue("postgres"))
    await _recreate_database(server.url, SCRATCH_DB)
    return server.database(SCRATCH_DB)


@pytest.fixture
async def unicode_settings(postgres_server: Postgres) -> Settings:
    """Settings of a PostgreSQL database at head whose lower() folds all of Unicode."""
    await _recreate_database(postgres_server.url, UNICODE_DB)
    settings = load_settings(database_url=postgres_server.database(UNICODE_DB))
    await migrate.upgrade(settings)
    return settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, db_pool_timeout=5)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[RequestSession]:
    """A request-style session on the test database."""
    session = request_session(engine)
    try:
        yield session
    finally:
        await session.close()


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


@pytest.fixture
def app_with(database_url: str) -> AppWith:
    """`async with app_with(query_max_cost=10) as client`: a client of the app on the test's
    database, under settings of the test's own."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with running_app(load_settings(database_url=database_url, **overrides)) as pair:
            yield pair[1]

    return start


@pytest.fixture
def replicated_app(replicated: Replicated) -> AppWith:
    """`async with replicated_app(replica_max_lag_ms=100) as client`: a client of the app on
    the `replicated` primary with its replica, checked every 50 ms, under more settings."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = load_settings(
            **{
                "database_url": replicated.primary_url,
                "database_replica_urls": replicated.replica_url,
                "replica_check_interval_ms": 50,
                **overrides,
            }
        )
        async with running_app(settings) as pair:
            yield pair[1]

    return start


@pytest.fixture
def sql_log(app_client: tuple[FastAPI, httpx.AsyncClient]) -> StatementLog:
    """Records every statement the running app's engine executes."""
    resources = resources_of(app_client[0])
    log = StatementLog()

    def record(*args: object) -> None:
        log.statements.append(str(args[2]))

    event.listen(resources.engine.sync_engine, "before_cursor_execute", record)
    return log


@pytest.fixture
def driver_sql_log(app_client: tuple[FastAPI, httpx.AsyncClient]) -> StatementLog:
    """Records the statements read units run straight on asyncpg (`db._DriverReads`, on
    PostgreSQL). `sql_log` cannot: its listener is what sends reads SQLAlchemy's way."""
    resources = resources_of(app_client[0])
    log = StatementLog()

    def record(query: LoggedQuery) -> None:
        log.statements.append(query.query)

    def watch(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(record)

    event.listen(resources.engine.sync_engine.pool, "checkout", watch)
    return log


@pytest.fixture
def make_user(db: RequestSession) -> MakeUser:
    """Creates a user (email `<username>@example.com`) with a bearer token."""

    async def make(username: str) -> AuthUser:
        token, token_hash = new_token()
        async with db.transaction(write=True) as session:
            user = await queries.create_user(
                session, username=username, email=f"{username}@example.com", password_hash="-"
            )
            await queries.create_token(
                session,
                user_id=user.id,
                token_hash=token_hash,
                expires_at=utcnow() + timedelta(days=1),
            )
        return AuthUser(user.id, encode_global_id("User", user.id), username, bearer_headers(token))

    return make


@pytest.fixture
def make_post(db: RequestSession) -> MakePost:
    """Writes a post `minute` minutes after EPOCH; its global id."""

    async def make(
        author: AuthUser, title: str = "A title", body: str = "A body", *, minute: int = 0
    ) -> str:
        async with db.transaction(write=True) as session:
            row = await queries.insert_post(
                session,
                author_id=author.pk,
                title=title,
                body=body,
                now=EPOCH + timedelta(minutes=minute),
            )
        return encode_global_id("Post", row[0])

    return make


@pytest.fixture
def make_comment(db: RequestSession) -> MakeComment:
    """Writes a comment `minute` minutes after EPOCH on the post of `post_id`; its global id."""

    async def make(
        author: AuthUser, post_id: str, body: str = "A comment", *, minute: int = 0
    ) -> str:
        async with db.transaction(write=True) as session:
            row = await queries.insert_comment(
                session,
                post_id=decode_id_of(post_id, "Post"),
                author_id=author.pk,
                body=body,
                now=EPOCH + timedelta(minutes=minute),
            )
        return encode_global_id("Comment", row[0])

    return make


@pytest.fixture
def verified_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored hashes passwords are verified against, in order (a spy on the context)."""
    seen: list[str] = []
    verify = password_context.verify

    def spy(secret: str | bytes, stored: str, **kwargs: Any) -> bool:
        seen.append(stored)
        return verify(secret, stored, **kwargs)

    monkeypatch.setattr(password_context, "verify", spy)
    return seen


@pytest.fixture
def hash_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The password hashes and checks asked of the hashing queue, by the name of their work."""
    asked: list[str] = []
    run = security.HashQueue.run

    async def spy(queue: security.HashQueue, work: Callable[..., T], *args: object) -> T:
        asked.append(work.__name__)
        return await run(queue, work, *args)

    monkeypatch.setattr(security.HashQueue, "run", spy)
    return asked


@pytest.fixture
def compiled_runs(monkeypatch: pytest.MonkeyPatch) -> CompiledRuns:
    """Counts the runs of compiled plans from here on (a run that falls back counts too)."""
    runs = CompiledRuns()
    execute = Run.execute

    async def counted(run: Run, plan: ObjectPlan) -> Any:
        runs.count += 1
        return await execute(run, plan)

    monkeypatch.setattr(Run, "execute", counted)
    return runs


@pytest.fixture
def metrics_on() -> Iterator[None]:
    """The hooks of every layer report to the metrics, as in a worker with METRICS_PORT."""
    from gql_app.core import observability
    from gql_app.core.metrics import request_metrics

    request_metrics(load_settings(metrics_port=9))
    try:
        yield
    finally:
        observability.metrics_sink = None
