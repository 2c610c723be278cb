"""`gql-app serve` run as a process of its own, for tests whose behaviour crosses a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port
from tests.support.postgres import require_postgres

# Longer than serve's default SHUTDOWN_GRACE_SECONDS (10): a server stops within it.
STOP_SECONDS = 15


@dataclass
class Served:
    """`gql-app serve` in a process of its own, as production runs it."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(url: str, log: Path, workers: int = 1, /, **settings: object) -> Iterator[Served]:
    """`gql-app serve --workers N` on a free port against `url`, with `settings` as environment
    variables and its output in `log`. When the block ends it is stopped as an operator
    stops it (SIGTERM: its workers stop too, and coverage's subprocess measurement is
    written), and killed if it has not exited within `STOP_SECONDS`."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": url} | {k.upper(): str(v) for k, v in settings.items()}
    command = [
        str(Path(sys.executable).parent / "gql-app"),
        "serve",
        f"--port={port}",
        f"--workers={workers}",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process)
            yield Served(process, port)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait(timeout=10)


def served_database(request: pytest.FixtureRequest, folder: Path) -> str:
    """The database URL for a server on the backend `request.param`: a copy of the migrated
    SQLite template in `folder`, or the session's PostgreSQL."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), folder / "test.db")
        return f"sqlite+aiosqlite:///{folder / 'test.db'}"
    return require_postgres(request.getfixturevalue("postgres")).url
