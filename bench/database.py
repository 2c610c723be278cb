"""The benchmark's PostgreSQL: its own cluster (with pg_stat_statements) or a given URL,
migrated and seeded with the standard dataset, which later runs reuse."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.support.postgres import PostgresCluster, _postgres_bindir

BENCH_DB = "gql_app_bench"
# Kept between runs (the dataset is reused); the server user must reach it, so not $HOME.
DEFAULT_CLUSTER_DIR = Path("/var/tmp/gql_app_bench")
# The cluster's settings besides the test cluster's; they are printed in every report.
CLUSTER_OPTIONS = "-c shared_preload_libraries=pg_stat_statements -c shared_buffers=256MB"


@dataclass(frozen=True)
class Dataset:
    users: int = 1000
    posts_per_user: int = 10
    comments_per_post: int = 5

    @property
    def counts(self) -> tuple[int, int, int]:
        posts = self.users * self.posts_per_user
        return self.users, posts, posts * self.comments_per_post


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy or libpq URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def app_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@contextmanager
def bench_cluster(root: Path) -> Iterator[str]:
    """A PostgreSQL cluster kept in `root` between runs; yields the bench database's URL."""
    bindir = _postgres_bindir()
    if bindir is None:
        raise SystemExit("bench: no PostgreSQL server binaries (initdb); pass --database-url")
    root.mkdir(parents=True, exist_ok=True)
    cluster = PostgresCluster(bindir, root=root, extra_options=CLUSTER_OPTIONS)
    if not (cluster.data / "PG_VERSION").is_file():
        shutil.rmtree(cluster.data, ignore_errors=True)
        cluster.init()
    cluster.start()
    try:
        asyncio.run(_create_database(cluster.url))
        yield make_url(cluster.url).set(database=BENCH_DB).render_as_string(hide_password=False)
    finally:
        cluster.stop()


async def _create_database(admin_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", BENCH_DB)
        if not exists:
            await connection.execute("CREATE DATABASE gql_app_bench")
    finally:
        await connection.close()


def command(name: str, install: str) -> str:
    """The script `name` of the running Python's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: `{name}` not found: {install}")
    return found


def gql_app_command() -> str:
    return command("gql-app", "pip install -e '.[test]'")


def _gql_app(url: str, *args: str) -> None:
    env = os.environ | {"DATABASE_URL": app_url(url)}
    subprocess.run([gql_app_command(), *args], env=env, check=True)


def persist_documents(url: str, manifest: dict[str, str], path: Path) -> None:
    """Register `manifest` (id: document) as trusted documents with `gql-app persist`."""
    path.write_text(json.dumps(manifest))
    _gql_app(url, "persist", str(path))


async def _counts(url: str) -> tuple[int, int, int]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts),"
            " (SELECT count(*) FROM comments)"
        )
    finally:
        await connection.close()
    return (row[0], row[1], row[2]) if row else (0, 0, 0)


def ensure_dataset(url: str, dataset: Dataset) -> str:
    """Migrate, and seed unless the database already holds exactly the dataset."""
    _gql_app(url, "migrate")
    if asyncio.run(_counts(url)) == dataset.counts:
        return "reused"
    _gql_app(
        url,
        "seed",
        "--reset",
        f"--users={dataset.users}",
        f"--posts-per-user={dataset.posts_per_user}",
        f"--comments-per-post={dataset.comments_per_post}",
    )
    asyncio.run(_analyze(url))
    return "seeded"


async def _analyze(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
