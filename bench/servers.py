"""Starting, measuring and stopping the servers under test, each in its own process tree."""

from __future__ import annotations

import os
import shutil
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

FLOOR = "floor"
JSON_FLOOR = "json floor"
PEER = "PostGraphile"
PEER_DIR = Path(__file__).parent / "peer"


# The observability variants of a gql_app server (`--servers 1+metrics`), each measured
# beside the same server with both off: what metrics and tracing cost (issue 16).
METRICS, TRACING = "metrics", "tracing"
VARIANTS = (METRICS, TRACING)


def gql_app_name(workers: int, variant: str | None = None) -> str:
    on = f", {variant} on" if variant else ""
    return f"gql_app ({workers} worker{'s' if workers > 1 else ''}{on})"


@dataclass
class Server:
    """A running server: `url` takes GraphQL POSTs; `pid` roots its process tree."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    # The peer speaks PostGraphile's schema: it is sent the operations' `peer` documents.
    peer: bool = False

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
    name: str, command: list[str], env: dict[str, str], port: int, log: Path, *, peer: bool = False
) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
        server = Server(name, process, port, log, peer)
        try:
            _wait_ready(server, 60, log)
            yield server
        finally:
            _stop(server)


@contextmanager
def gql_app_server(
    database_url: str,
    workers: int,
    log: Path,
    env: dict[str, str],
    variant: str | None = None,
) -> Iterator[Server]:
    """`gql-app serve` as a user runs it, with `workers` worker processes; `variant`
    `metrics`: with METRICS_PORT set; `tracing`: tracing on to an exporter that discards
    (bench/traced.py)."""
    port = free_port()
    serve = [gql_app_command()]
    settings = {"DATABASE_URL": app_url(database_url), "ENVIRONMENT": "production"} | env
    if variant == METRICS:
        settings["METRICS_PORT"] = str(free_port())
    elif variant == TRACING:
        serve = [sys.executable, "-m", "bench.traced"]
    command = [*serve, "serve", f"--port={port}", f"--workers={workers}"]
    with _running(gql_app_name(workers, variant), command, settings, port, log) as server:
        yield server


@contextmanager
def floor_server(database_url: str, log: Path, name: str = FLOOR) -> Iterator[Server]:
    """A floor of bench/floor.py (`FLOOR` or `JSON_FLOOR`) under the same uvicorn (uvloop,
    httptools), one process."""
    port = free_port()
    factory = "create_json_app" if name == JSON_FLOOR else "create_app"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench.floor:{factory}",
        "--factory",
        f"--port={port}",
        "--log-level=warning",
        "--no-access-log",
    ]
    env = {"FLOOR_DATABASE_URL": asyncpg_dsn(database_url)}
    with _running(name, command, env, port, log) as server:
        yield server


def peer_node() -> Path:
    """Node 22 of bench/peer/ (the npm package `node`), installed there first if missing."""
    node = PEER_DIR / "node_modules" / ".bin" / "node"
    if not node.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "bench: the peer needs npm to install it (Debian: apt-get install npm)"
            )
        print("bench: installing the peer (npm ci --prefix bench/peer) ...", flush=True)
        subprocess.run(
            [npm, "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(PEER_DIR)],
            check=True,
        )
    return node


@contextmanager
def peer_server(database_url: str, log: Path) -> Iterator[Server]:
    """The peer: PostGraphile 5 (Amber preset) of bench/peer/ on Node 22, one process,
    `NODE_ENV=production`, over the same database."""
    port = free_port()
    command = [str(peer_node()), str(PEER_DIR / "server.mjs")]
    env = {
        "NODE_ENV": "production",
        "PEER_DATABASE_URL": asyncpg_dsn(database_url),
        "PEER_PORT": str(port),
    }
    with _running(PEER, command, env, port, log, peer=True) as server:
        yield server
