"""The `gql-app` command, run as a user runs it: a subprocess with settings in its environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gql_app.core.config import load_settings
from gql_app.db import create_engine, migrate
from tests.support.net import free_port
from tests.support.postgres import Postgres
from tests.support.server import serving

GQL_APP = str(Path(sys.executable).with_name("gql-app"))


@dataclass
class Outcome:
    code: int
    out: str
    err: str


async def gql_app(*args: str, database_url: str | None = None, **env: str) -> Outcome:
    environment = {**os.environ, **env}
    if database_url is not None:
        environment["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        GQL_APP,
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Outcome(process.returncode, out.decode(), err.decode())


def assert_one_line_error(outcome: Outcome, fragment: str) -> None:
    assert outcome.code == 1
    assert "Traceback" not in outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("gql-app: error: ")
    assert fragment in lines[0]


async def _content(database_url: str) -> list[tuple[object, ...]]:
    """Every seeded value except generated ids, in a stable order."""
    engine = create_engine(load_settings(database_url=database_url))
    statement = text(
        "SELECT u.username, u.email, p.title, p.body, p.created_at, c.body, c.created_at,"
        " a.username FROM users u JOIN posts p ON p.author_id = u.id"
        " JOIN comments c ON c.post_id = p.id JOIN users a ON a.id = c.author_id"
        " ORDER BY u.username, p.created_at, p.title, c.created_at, c.body"
    )
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(statement)]
    finally:
        await engine.dispose()


async def test_migrate_brings_an_empty_database_to_head(scratch_database_url: str) -> None:
    outcome = await gql_app("migrate", database_url=scratch_database_url)
    assert outcome.code == 0, outcome.err
    head = migrate.head_revision()
    assert outcome.out.strip() == f"database at migration {head} (head {head})"


async def test_migrate_base_downgrades_everything(scratch_database_url: str) -> None:
    settings = load_settings(database_url=scratch_database_url)
    await migrate.upgrade(settings)
    outcome = await gql_app("migrate", "base", database_url=scratch_database_url)
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("database at migration base")
    assert await migrate.database_revision(settings) is None


async def test_db_status_shows_revision_and_pool(database_url: str, backend: str) -> None:
    outcome = await gql_app("db-status", database_url=database_url, DB_POOL_SIZE="7")
    assert outcome.code == 0, outcome.err
    assert f"migration:  {migrate.head_revision()} (head {migrate.head_revision()})\n" in (
        outcome.out
    )
    assert "pool:       size 7, overflow 20, timeout 30s, recycle 1800s" in outcome.out
    assert ("connections of gql_app:" in outcome.out) == (backend == "postgresql")


async def test_db_status_flags_a_database_behind_head(scratch_database_url: str) -> None:
    outcome = await gql_app("db-status", database_url=scratch_database_url)
    assert outcome.code == 0, outcome.err
    assert "migration:  none" in outcome.out
    assert "BEHIND" in outcome.out


async def test_seed_inserts_the_requested_demo_data(database_url: str) -> None:
    outcome = await gql_app(
        "seed",
        "--users",
        "4",
        "--posts-per-user",
        "3",
        "--comments-per-post",
        "2",
        database_url=database_url,
    )
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == "seeded 4 users, 12 posts, 24 comments"
    assert len(await _content(database_url)) == 24


async def test_seed_is_deterministic(database_url: str) -> None:
    await gql_app("seed", "--users", "3", database_url=database_url)
    first = await _content(database_url)
    outcome = await gql_app("seed", "--users", "3", "--reset", database_url=database_url)
    assert outcome.code == 0, outcome.err
    assert await _content(database_url) == first
    assert len(first) == 3 * 10 * 5


async def test_seed_refuses_a_database_with_users(database_url: str) -> None:
    await gql_app("seed", "--users", "1", database_url=database_url)
    assert_one_line_error(
        await gql_app("seed", "--users", "1", database_url=database_url), "--reset"
    )


async def test_export_schema_prints_the_checked_in_sdl() -> None:
    outcome = await gql_app("export-schema")
    assert outcome.code == 0, outcome.err
    assert "type Query" in outcome.out
    assert outcome.out == (Path(__file__).parents[2] / "schema.graphql").read_text()


async def test_unreachable_database_is_one_line_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/app"
    assert_one_line_error(await gql_app("db-status", database_url=url), "database unreachable")


async def test_unsupported_database_url_is_one_line_error() -> None:
    outcome = await gql_app("migrate", database_url="mysql://root@localhost/app")
    assert_one_line_error(outcome, "DATABASE_URL: unsupported database 'mysql'")


async def test_invalid_setting_is_one_line_error() -> None:
    outcome = await gql_app("db-status", DB_POOL_SIZE="lots")
    assert_one_line_error(outcome, "DB_POOL_SIZE")


async def test_unknown_role_is_one_line_error(postgres_server: Postgres) -> None:
    url = postgres_server.database("postgres").replace("postgres@", "nosuchrole:secret@", 1)
    outcome = await gql_app("db-status", database_url=url)
    assert_one_line_error(outcome, "authentication failed")
    assert "secret" not in outcome.err


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_serve_refuses_a_postgres_database_behind_head(
    scratch_database_url: str,
) -> None:
    outcome = await gql_app("serve", "--port", str(free_port()), database_url=scratch_database_url)
    assert_one_line_error(outcome, "run `gql-app migrate`")


async def _serve_until_healthy(
    *args: str, cwd: Path, env: dict[str, str]
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        GQL_APP,
        "serve",
        "--port",
        str(port),
        *args,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process, port
            except httpx.TransportError:
                pass
            assert process.returncode is None, "serve exited early"
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not become ready")


async def test_serve_on_the_default_sqlite_migrates_and_serves(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    process, _ = await _serve_until_healthy(cwd=tmp_path, env=env)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gql_app.db'}")
    assert await migrate.database_revision(settings) == migrate.head_revision()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_serve_with_migrate_upgrades_postgres_first(
    scratch_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": scratch_database_url}
    process, _ = await _serve_until_healthy("--migrate", cwd=tmp_path, env=env)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def _closed_after_idle(port: int, idle_seconds: float) -> bool:
    """Whether the server closed a kept-alive connection that sat idle `idle_seconds`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b'{"status":"ok"}')
        await asyncio.sleep(idle_seconds)
        try:
            return await asyncio.wait_for(reader.read(1), timeout=0.5) == b""
        except TimeoutError:
            return False  # still open: nothing to read, no end of stream
    finally:
        writer.close()


async def test_serve_keeps_idle_connections_open_for_keep_alive_seconds(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    process, port = await _serve_until_healthy(cwd=tmp_path, env=env | {"KEEP_ALIVE_SECONDS": "2"})
    try:
        still_open = not await _closed_after_idle(port, 0.5)
        closed = await _closed_after_idle(port, 2.5)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
    assert still_open
    assert closed


REGISTER = (
    'mutation { register(input: {username: "owner", email: "owner@example.com",'
    ' password: "correct horse"}) { __typename } }'
)
LOGIN = (
    'mutation($password: String!) { login(input: {login: "owner", password: $password})'
    " { __typename } }"
)


async def test_serve_counts_a_login_under_its_peer_whatever_x_forwarded_for_says(
    database_url: str, tmp_path: Path
) -> None:
    """uvicorn's own proxy headers are off: a client on loopback (uvicorn's default trusted
    proxy) cannot name another address for the throttle; only `TRUSTED_PROXIES` can."""
    with serving(database_url, tmp_path / "serve.log", login_max_failures=1) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as http:
            await http.post("/graphql", json={"query": REGISTER})
            wrong = await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"password": "wrong password"}}
            )
            forged = await http.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"password": "correct horse"}},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
    assert wrong.json()["data"]["login"]["__typename"] == "InvalidCredentials"
    assert forged.json()["data"]["login"]["__typename"] == "RateLimited"
