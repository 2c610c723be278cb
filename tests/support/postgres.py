"""PostgreSQL for the tests: throwaway clusters, databases made anew, skips that fail under CI."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from tests.support.net import free_port

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


TEST_DB = "gql_app_test"


SCRATCH_DB = "gql_app_scratch"


UNICODE_DB = "gql_app_unicode"


REPLICATED_DB = "gql_app_replicated"


_TRUNCATE = (
    "TRUNCATE users, posts, comments, auth_tokens, login_failures, persisted_documents"
    " RESTART IDENTITY CASCADE"
)


_postgres_skip_reason: list[str] = []


def run_async_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even while a test's event loop runs."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


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

    def init_replica_of(self, primary: PostgresCluster) -> None:
        """This cluster as a streaming replica of `primary` (`pg_basebackup -R`: it starts
        in recovery, streaming from it). initdb's pg_hba.conf trusts local replication."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            "pg_basebackup",
            "-D",
            str(self.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "-d",
            f"host=127.0.0.1 port={primary.port} user=postgres",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():  # not already stopped
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Replicated:
    """A primary and a streaming replica of it; `database` is at the head migration on both."""

    primary: PostgresCluster
    replica: PostgresCluster
    database: str

    @property
    def primary_url(self) -> str:
        return make_url(self.primary.url).set(database=self.database).render_as_string(False)

    @property
    def replica_url(self) -> str:
        return make_url(self.replica.url).set(database=self.database).render_as_string(False)


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
    REPLICATED_DB: (
        "DROP DATABASE IF EXISTS gql_app_replicated WITH (FORCE)",
        "CREATE DATABASE gql_app_replicated",
    ),
    UNICODE_DB: (
        "DROP DATABASE IF EXISTS gql_app_unicode WITH (FORCE)",
        "CREATE DATABASE gql_app_unicode TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.utf8'",
    ),
}


async def execute_sql(url: str, *statements: str) -> None:
    """Run `statements` on a connection of their own, each committed."""
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _recreate_database(admin_url: str, name: str) -> None:
    await execute_sql(_asyncpg_dsn(admin_url), *_RECREATE[name])


def require_postgres(postgres: Postgres | None) -> Postgres:
    if postgres is None:
        pytest.skip("PostgreSQL unavailable: " + _postgres_skip_reason[0])
    return postgres


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of a server program, loudly; under CI=true, fail it."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    _postgres_skip_reason.append(reason)
    pytest.skip(reason)
