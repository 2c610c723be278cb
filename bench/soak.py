"""`bench/soak`: the service under a steady, realistic load for a long while, watched for
leaks: memory, connections left `idle in transaction` (DESIGN.md contract 2), errors.

It serves `gql-app serve` on a PostgreSQL (optionally through PgBouncer), drives it from a
load-generator process (`bench/soak_load.py`), samples `pg_stat_activity` and the server's
RSS meanwhile, and prints the figures; `--json` also writes them to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import procstat, workload
from bench.database import Dataset, _create_database, asyncpg_dsn, ensure_dataset
from bench.operations import Rows
from bench.servers import Server, gql_app_server
from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.db import APPLICATION_NAME, create_engine
from tests.reliability.pgbouncer import pgbouncer_binary, running_pgbouncer

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gql_app_bench"
SAMPLE_SECONDS = 0.2
IDLE_IN_TRANSACTION = "idle in transaction"
RSS_SAMPLES = 10
RSS_SAMPLE_SECONDS = 1.0


@dataclass
class Watch:
    """What the sampler saw in `pg_stat_activity` (the app's connections only)."""

    samples: int = 0
    longest_idle_in_transaction: float = 0.0
    longest_after: str = ""  # the statement that connection had run last
    samples_over_1s: int = 0
    peak_connections: int = 0
    peak_load_average: float = 0.0  # the machine's 1-minute load average
    by_state_at_end: dict[str, int] = field(default_factory=dict)


class Sampler(threading.Thread):
    """Samples the app's connections every `SAMPLE_SECONDS` until stopped, in its own loop."""

    def __init__(self, direct_url: str) -> None:
        super().__init__(daemon=True)
        self.direct_url = direct_url
        self.watch = Watch()
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        engine = create_engine(load_settings(database_url=self.direct_url), pooled=False)
        try:
            async with engine.connect() as connection:
                while not self.stopping.is_set():
                    states = await queries.connection_states(connection, APPLICATION_NAME)
                    await connection.rollback()  # each sample sees a fresh snapshot
                    self._record(states)
                    await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await engine.dispose()

    def _record(self, states: list[queries.ConnectionState]) -> None:
        watch = self.watch
        watch.samples += 1
        watch.peak_connections = max(watch.peak_connections, len(states))
        watch.peak_load_average = max(watch.peak_load_average, os.getloadavg()[0])
        idle = [state for state in states if state.state == IDLE_IN_TRANSACTION]
        if idle:
            longest = max(idle, key=lambda state: state.seconds)
            if longest.seconds > watch.longest_idle_in_transaction:
                watch.longest_idle_in_transaction = longest.seconds
                watch.longest_after = " ".join(longest.query.split())[:200]
            watch.samples_over_1s += longest.seconds > 1


async def _states_now(direct_url: str) -> dict[str, int]:
    engine = create_engine(load_settings(database_url=direct_url), pooled=False)
    try:
        async with engine.connect() as connection:
            return dict(await queries.connections_by_state(connection, APPLICATION_NAME))
    finally:
        await engine.dispose()


def _rss(server: Server) -> int:
    return sum(procstat.memory(pid).rss for pid in server.workers())


@contextmanager
def _app_database_url(direct_url: str, pgbouncer: bool) -> Iterator[tuple[str, dict[str, str]]]:
    """The URL the app connects to (direct, or through a PgBouncer started here) and the
    settings that go with it."""
    if not pgbouncer:
        yield direct_url, {}
        return
    binary = pgbouncer_binary()
    if binary is None:
        raise SystemExit("soak: --pgbouncer needs the pgbouncer binary (apt-get install pgbouncer)")
    url = make_url(direct_url)
    with running_pgbouncer(binary, url.port or 5432, server_pool_size=20) as bouncer:
        yield bouncer.url(url.database or ""), {"DB_PGBOUNCER": "true"}


def _start_load(
    server: Server, rows: Rows, tokens: list[str], args: argparse.Namespace
) -> subprocess.Popen[str]:
    """The load generator, started in a process of its own, its plan on its stdin."""
    plan = {
        "url": server.url,
        "duration": args.duration,
        "concurrency": args.concurrency,
        "rows": asdict(rows),
        "tokens": tokens,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.soak_load"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(plan))
    process.stdin.close()
    return process


def _rss_by_tenth(
    server: Server, process: subprocess.Popen[str], duration: float
) -> tuple[list[int], list[int]]:
    """The lowest and highest RSS of each tenth of the run, sampled every second.

    A point sample lands on whatever is in flight: each password hash (argon2id) holds 64
    MiB while it runs, so samples swing by hundreds of MiB with the logins of the moment.
    The lowest of a tenth is what the server keeps between requests: a leak grows it.
    """
    floors: list[int] = []
    peaks: list[int] = []
    while len(floors) < RSS_SAMPLES and process.poll() is None:
        ends = time.monotonic() + duration / RSS_SAMPLES
        samples: list[int] = []
        while (left := ends - time.monotonic()) > 0 and process.poll() is None:
            time.sleep(min(RSS_SAMPLE_SECONDS, left))
            samples.append(_rss(server))
        if samples:
            floors.append(min(samples))
            peaks.append(max(samples))
    return floors, peaks


def soak(args: argparse.Namespace) -> dict[str, Any]:
    direct_url = args.database_url
    dsn = asyncpg_dsn(direct_url)
    admin = make_url(dsn).set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_create_database(admin))
    print("soak: migrating and seeding (reused when already seeded) ...", flush=True)
    ensure_dataset(direct_url, Dataset())
    rows = asyncio.run(workload.read_rows(dsn))
    start_marks = asyncio.run(workload.marks(dsn))
    tokens = asyncio.run(workload.sign_in(dsn, rows.user_ids))
    log = Path(args.log)
    with ExitStack() as stack:
        stack.callback(lambda: asyncio.run(workload.undo_writes(dsn, start_marks)))
        app_url, env = stack.enter_context(_app_database_url(direct_url, args.pgbouncer))
        server = stack.enter_context(gql_app_server(app_url, 1, log, env))
        sampler = Sampler(direct_url)
        sampler.start()
        rss_start = _rss(server)
        process = _start_load(server, rows, tokens, args)
        print(f"soak: {args.concurrency} clients for {args.duration:g}s ...", flush=True)
        floors, peaks = _rss_by_tenth(server, process, args.duration)
        assert process.stdout is not None
        output = process.stdout.read()
        process.wait()
        time.sleep(1)  # let the last responses return their connections
        sampler.stopping.set()
        sampler.join()
        by_state = asyncio.run(_states_now(direct_url))
    load = json.loads(output)
    return {
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "pgbouncer": args.pgbouncer,
        "cpus": os.cpu_count(),
        "load": load,
        "rss_bytes": {"start": rss_start, "floor_every_tenth": floors, "peak_every_tenth": peaks},
        "pg_stat_activity": asdict(sampler.watch) | {"by_state_at_end": by_state},
    }


def render(result: dict[str, Any]) -> str:
    load, rss, watch = result["load"], result["rss_bytes"], result["pg_stat_activity"]
    outcomes = {name: count for name, count in load["outcomes"].items() if name != "ok"}
    fivexx = sum(count for status, count in load["statuses"].items() if status.startswith("5"))
    mib = 1024 * 1024
    series = rss["floor_every_tenth"]
    warm, half, end = series[0], series[len(series) // 2 - 1], series[-1]
    mode = "through PgBouncer" if result["pgbouncer"] else "direct to PostgreSQL"
    latency = f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms"
    tenths = " ".join(f"{value / mib:.0f}" for value in series)
    peaks = " ".join(f"{value / mib:.0f}" for value in rss["peak_every_tenth"])
    idle = watch["longest_idle_in_transaction"]
    at_end = json.dumps(watch["by_state_at_end"], sort_keys=True)
    lines = [
        f"soak: {result['duration_s']:g}s, {result['concurrency']} clients, {mode}",
        f"requests            {load['requests']} ({load['outcomes'].get('ok', 0)} ok)",
        f"errors by code      {json.dumps(outcomes, sort_keys=True) if outcomes else 'none'}",
        f"5xx responses       {fivexx}",
        f"latency             {latency}, max {load['max_ms']:.1f} ms",
        f"server RSS          start {rss['start'] / mib:.0f} MiB;"
        f" lowest of each tenth: {tenths} MiB",
        f"                    highest of each tenth: {peaks} MiB",
        f"RSS growth (lowest) {(end - warm) / warm:+.1%} since the first tenth,"
        + f" {(end - half) / half:+.1%} over the second half",
        f"idle in transaction longest {idle:.3f} s in {watch['samples']} samples,"
        + f" {watch['samples_over_1s']} samples with one over 1 s"
        + (f" (last statement: {watch['longest_after']})" if idle else ""),
        f"connections         peak {watch['peak_connections']}, at the end {at_end}",
        f"machine             load average up to {watch['peak_load_average']:.1f}"
        + f" on {result['cpus']} cores",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/soak", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    parser.add_argument("--pgbouncer", action="store_true", help="serve through PgBouncer")
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--concurrency", type=int, default=64, help="clients (default 64)")
    parser.add_argument("--log", default="soak-server.log", help="the server's output")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser


def main() -> None:
    args = _parser().parse_args()
    result = soak(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(render(result))


if __name__ == "__main__":
    main()
