"""Fixtures of the transport tests: real `gql-app serve` processes for the real-time tests,
shared by the package's modules, and a count of what the full path runs.

On PostgreSQL two servers run on one database, so that what is written through one must
reach the subscribers of the other by LISTEN/NOTIFY; on SQLite (one process, in-process
fan-out) both names are the same server.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from strawberry.schema.schema import Schema as StrawberrySchema

from gql_app.core.config import load_settings
from gql_app.db import migrate
from tests.support.net import free_port
from tests.support.postgres import PostgresCluster, execute_sql, run_async_blocking
from tests.support.server import Served, served_database, serving

ALLOWED_ORIGIN = "https://app.example.com"
REALTIME_SETTINGS: dict[str, object] = {
    "cors_origins": ALLOWED_ORIGIN,
    "ws_connection_init_timeout_seconds": 1,
    "ws_auth_recheck_seconds": 0.2,
    "max_subscriptions_per_connection": 3,
    "subscription_queue_size": 5,
    "max_websockets": 8,
}


@dataclass(frozen=True)
class Live:
    """The database, the server subscribers connect to, and the one writes go through."""

    url: str
    subscribed: Served
    writer: Served


@dataclass(frozen=True)
class Metered:
    base_url: str
    url: str  # its database


@pytest.fixture
def metered(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Metered, int]]:
    """A server with metrics on (SQLite: one process, the in-process fan-out), its metrics port."""
    shutil.copyfile(sqlite_template, tmp_path / "test.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    port = free_port()
    with serving(url, tmp_path / "serve.log", metrics_port=port, **REALTIME_SETTINGS) as served:
        yield Metered(served.base_url, url), port


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    url = served_database(request, folder)
    with ExitStack() as stack:
        subscribed = stack.enter_context(
            serving(url, folder / "subscribed.log", **REALTIME_SETTINGS)
        )
        writer = subscribed
        if request.param == "postgresql":
            writer = stack.enter_context(serving(url, folder / "writer.log", **REALTIME_SETTINGS))
        yield Live(url, subscribed, writer)


@pytest.fixture(scope="package")
def statements_counted_url(postgres_bindir: Path) -> Iterator[str]:
    """A PostgreSQL cluster of its own that counts the statements it runs
    (pg_stat_statements), its `postgres` database at the head migration."""
    cluster = PostgresCluster(
        postgres_bindir, extra_options="-c shared_preload_libraries=pg_stat_statements"
    )
    cluster.init()
    cluster.start()
    try:
        run_async_blocking(execute_sql(cluster.url, "CREATE EXTENSION pg_stat_statements"))
        run_async_blocking(migrate.upgrade(load_settings(database_url=cluster.url)))
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def full_path_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The query texts Strawberry's `Schema.execute` (the full path) runs from here on."""
    runs: list[str | None] = []
    execute = StrawberrySchema.execute

    async def counted(
        schema: StrawberrySchema, query: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        runs.append(query)
        return await execute(schema, query, *args, **kwargs)

    monkeypatch.setattr(StrawberrySchema, "execute", counted)
    return runs
