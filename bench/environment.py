"""What a report was measured on: machine, versions, database, load settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import asyncpg

from bench.load import wrk_binary
from bench.servers import PEER_DIR

PACKAGES = (
    "strawberry-graphql",
    "graphql-core",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "orjson",
)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _postgres_version(dsn: str) -> str:
    async def read() -> str:
        connection = await asyncpg.connect(dsn)
        try:
            version: str = await connection.fetchval("SHOW server_version")
            return version
        finally:
            await connection.close()

    return asyncio.run(read())


def _wrk_version() -> str:
    done = subprocess.run([wrk_binary(), "--version"], check=False, capture_output=True, text=True)
    return (done.stdout or done.stderr).split("[")[0].strip()


def _peer_versions() -> str:
    """The peer's installed versions (bench/peer/node_modules), or that it is not installed."""
    modules = PEER_DIR / "node_modules"
    found = []
    for name in ("postgraphile", "node"):
        manifest = modules / name / "package.json"
        if manifest.is_file():
            found.append(f"{name} {json.loads(manifest.read_text())['version']}")
    return ", ".join(found) or "not installed"


def describe(
    dsn: str, args: argparse.Namespace, dataset_state: str, counting_problem: str | None
) -> list[str]:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    counting = (
        "pg_stat_statements (server-side; transaction control shown apart as `tx`)"
        if counting_problem is None
        else f"not available: {counting_problem}"
    )
    machine = (
        f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib():.0f} GiB, "
        f"Linux {platform.release()}"
    )
    load = (
        f"{_wrk_version()}, {args.connections} connections, 1 thread, {args.warmup:g} s "
        f"warm-up then {args.rounds} windows of {args.seconds:g} s per server and operation "
        f"({args.nested_repeats} for nested: RSS growth), alternating between the servers, "
        "each after they all went idle"
        + (
            f"; {args.idle_subscriptions} idle graphql-ws subscriptions open on each gql_app "
            "server (bench/idle.py; MAX_CONNECTIONS raised by as many unless set)"
            if args.idle_subscriptions
            else ""
        )
    )
    database = (
        f"PostgreSQL {_postgres_version(dsn)} on the same machine; dataset {dataset_state} "
        "(1,000 users, 10,000 posts, 50,000 comments)"
    )
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {machine}",
        f"- Python {platform.python_version()}; {versions}",
        f"- peer: {_peer_versions()}, Amber preset, NODE_ENV=production (bench/peer/)",
        f"- {database}",
        f"- load: {load}",
        f"- gql-app serve settings: ENVIRONMENT=production {' '.join(args.env)}".rstrip(),
        f"- SQL statement counts: {counting}, over {args.count_requests} sequential requests",
    ]
