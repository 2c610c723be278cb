"""Shared fixtures: real PostgreSQL and SQLite databases, built by the migrations, and the app.

PostgreSQL comes from `TEST_DATABASE_URL`, or from a throwaway cluster this session starts
with `initdb`/`pg_ctl` (as the `postgres` user when run as root) and removes at the end.
Every database-facing test runs on both backends through the `settings` fixture.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import asyncpg
import httpx
import pytest
from asyncpg.connection import LoggedQuery
from fastapi import FastAPI
from passlib.hash import bcrypt
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app import migrate, queries
from gql_app.app import Resources, create_app
from gql_app.config import Settings, load_settings
from gql_app.db import RequestSession, create_engine, create_sessionmaker
from gql_app.graphql import compiled
from gql_app.graphql.ids import decode_id_of, encode_global_id
from gql_app.models import utcnow
from gql_app.security import new_token, password_context

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgresql")
TEST_DB = "gql_app_test"
SCRATCH_DB = "gql_app_scratch"
UNICODE_DB = "gql_app_unicode"
_TRUNCATE = "TRUNCATE users, posts, comments, auth_tokens, login_failures RESTART IDENTITY CASCADE"
_postgres_skip_reason: list[str] = []


def run_async_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even while a test's event loop runs."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_bindir() -> Path | None:
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(Path(bindir))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((path for path in candidates if (path / "initdb").is_file()), None)


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL server: its own data directory, port and socket directory."""

    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gql_app_pg_")))
    port: int = field(default_factory=free_port)
    extra_options: str = ""  # more `-c name=value` server options, e.g. for the benchmark
    hba: str | None = None  # pg_hba.conf in place of initdb's (which trusts every local user)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # the server binaries refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        if self.hba is not None:
            (self.data / "pg_hba.conf").write_text(self.hba)

    def install_file(self, name: str, content: bytes) -> Path:
        """A file only the server's user may read (as its TLS key must be), in `root`."""
        path = self.root / name
        path.write_bytes(content)
        path.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres")
        return path

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            f" {self.extra_options}"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL server of the session: `url` is the test database, migrated to head."""

    url: str
    cluster: PostgresCluster | None

    def database(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    parsed: URL = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


# Identifiers cannot be bound parameters, so each database the tests make has its own literal.
_RECREATE = {
    TEST_DB: (
        "DROP DATABASE IF EXISTS gql_app_test WITH (FORCE)",
        "CREATE DATABASE gql_app_test",
    ),
    SCRATCH_DB: (
        "DROP DATABASE IF EXISTS gql_app_scratch WITH (FORCE)",
        "CREATE DATABASE gql_app_scratch",
    ),
    # The cluster's locale C lowercases ASCII only; C.utf8 lowercases all of Unicode.
    UNICODE_DB: (
        "DROP DATABASE IF EXISTS gql_app_unicode WITH (FORCE)",
        "CREATE DATABASE gql_app_unicode TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.utf8'",
    ),
}


async def _recreate_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        for statement in _RECREATE[name]:
            await connection.execute(statement)
    finally:
        await connection.close()


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


def require_postgres(postgres: Postgres | None) -> Postgres:
    if postgres is None:
        pytest.skip("PostgreSQL unavailable: " + _postgres_skip_reason[0])
    return postgres


def served_database(request: pytest.FixtureRequest, folder: Path) -> str:
    """The database URL for a server on the backend `request.param`: a copy of the migrated
    SQLite template in `folder`, or the session's PostgreSQL."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), folder / "test.db")
        return f"sqlite+aiosqlite:///{folder / 'test.db'}"
    return require_postgres(request.getfixturevalue("postgres")).url


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


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


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of a server program, loudly; under CI=true, fail it."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    _postgres_skip_reason.append(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_bindir() -> Path:
    """The PostgreSQL server binaries, for tests that start (and stop) servers of their own."""
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb)")
    return bindir


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
    session = RequestSession(create_sessionmaker(engine))
    try:
        yield session
    finally:
        await session.close()


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real ASGI app with its lifespan started, and a client speaking to it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


def graphql_post_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a `POST /graphql` with raw `headers`, for a test that drives the app
    itself (what a client library would add or read stays out of the way)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }


AppWith = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_with(database_url: str) -> AppWith:
    """`async with app_with(query_max_cost=10) as client`: a client of the app on the test's
    database, under settings of the test's own."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with running_app(load_settings(database_url=database_url, **overrides)) as pair:
            yield pair[1]

    return start


@dataclass
class StatementLog:
    """The SQL statements an engine ran, for asserting counts (DESIGN.md contract 4)."""

    statements: list[str] = field(default_factory=list)

    def queries(self) -> list[str]:
        """The statements that did work: transaction control excluded."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return [s for s in self.statements if not s.lstrip().upper().startswith(control)]

    def clear(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_log(app_client: tuple[FastAPI, httpx.AsyncClient]) -> StatementLog:
    """Records every statement the running app's engine executes."""
    resources: Resources = app_client[0].state.resources
    log = StatementLog()

    def record(*args: object) -> None:
        log.statements.append(str(args[2]))

    event.listen(resources.engine.sync_engine, "before_cursor_execute", record)
    return log


@pytest.fixture
def driver_sql_log(app_client: tuple[FastAPI, httpx.AsyncClient]) -> StatementLog:
    """Records the statements read units run straight on asyncpg (`db._DriverReads`, on
    PostgreSQL). `sql_log` cannot: its listener is what sends reads SQLAlchemy's way."""
    resources: Resources = app_client[0].state.resources
    log = StatementLog()

    def record(query: LoggedQuery) -> None:
        log.statements.append(query.query)

    def watch(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(record)

    event.listen(resources.engine.sync_engine.pool, "checkout", watch)
    return log


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation to the app; the response body."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def graphql_data(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `data` of an operation that must succeed without errors."""
    body = await graphql(client, query, variables, headers=headers)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


@dataclass(frozen=True)
class AuthUser:
    """A user with a live token: `headers` authenticate requests as them."""

    pk: int
    id: str
    username: str
    headers: dict[str, str]


MakeUser = Callable[[str], Awaitable[AuthUser]]


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


def bearer_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class MakePost(Protocol):
    async def __call__(
        self, author: AuthUser, title: str = ..., body: str = ..., *, minute: int = ...
    ) -> str: ...


class MakeComment(Protocol):
    async def __call__(
        self, author: AuthUser, post_id: str, body: str = ..., *, minute: int = ...
    ) -> str: ...


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


async def create_legacy_user(db: RequestSession, username: str, password: str) -> None:
    """A user whose password was hashed with bcrypt, as an older system stored it."""
    async with db.transaction(write=True) as session:
        await queries.create_user(
            session,
            username=username,
            email=f"{username}@example.com",
            password_hash=bcrypt.using(rounds=4).hash(password),
        )


@dataclass
class CompiledRuns:
    """How many operations ran through a compiled plan (gql_app/graphql/compiled.py)."""

    count: int = 0


@pytest.fixture
def compiled_runs(monkeypatch: pytest.MonkeyPatch) -> CompiledRuns:
    """Counts the runs of compiled plans from here on (a run that falls back counts too)."""
    runs = CompiledRuns()
    execute = compiled.Run.execute

    async def counted(run: compiled.Run, plan: compiled.ObjectPlan) -> Any:
        runs.count += 1
        return await execute(run, plan)

    monkeypatch.setattr(compiled.Run, "execute", counted)
    return runs
