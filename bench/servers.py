"""Starting, measuring and stopping the servers under test, each in its own process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procstat
from bench.database import app_url, asyncpg_dsn, gql_app_command
from tests.support.net import free_port


def gql_app_name(workers: int) -> str:
    return f"gql_app ({workers} worker{'s' if workers > 1 else ''})"


@dataclass
class Server:
    """A running server: `url` takes GraphQL POSTs; `pid` roots its process tree."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        return self.process.pid

    def processes(self) -> list[int]:
        return procstat.tree(self.pid)

    def restarts(self) -> int:
        """Workers uvicorn's supervisor replaced so far (it kills one that stops answering)."""
        text = self.log.read_text(errors="replace")
        return text.count("] died")

    def workers(self) -> list[int]:
        """The processes that serve requests (uvicorn's supervisor only forks them)."""
        pids = self.processes()
        serving = [pid for pid in pids if pid != self.pid and _is_python(pid)]
        return serving or [self.pid]


def _is_python(pid: int) -> bool:
    try:
        return "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def _wait_ready(server: Server, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    health = f"http://127.0.0.1:{server.port}/healthz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"bench: {server.name} exited at start-up; see {log}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: {server.name} not ready within {timeout:g}s; see {log}")


def _stop(server: Server) -> None:
    pids = server.processes()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.process.wait(timeout=10)


@contextmanager
def _running(
    name: str, command: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
        server = Server(name, process, port, log)
        try:
            _wait_ready(server, 60, log)
            yield server
        finally:
            _stop(server)


@contextmanager
def gql_app_server(
    database_url: str, workers: int, log: Path, env: dict[str, str]
) -> Iterator[Server]:
    """`gql-app serve` as a user runs it, with `workers` worker processes."""
    port = free_port()
    command = [gql_app_command(), "serve", f"--port={port}", f"--workers={workers}"]
    settings = {"DATABASE_URL": app_url(database_url), "ENVIRONMENT": "production"} | env
    with _running(gql_app_name(workers), command, settings, port, log) as server:
        yield server


@contextmanager
def floor_server(database_url: str, log: Path) -> Iterator[Server]:
    """The floor: bench/floor.py under the same uvicorn (uvloop, httptools), one process."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.floor:create_app",
        "--factory",
        f"--port={port}",
        "--log-level=warning",
        "--no-access-log",
    ]
    env = {"FLOOR_DATABASE_URL": asyncpg_dsn(database_url)}
    with _running("floor", command, env, port, log) as server:
        yield server
