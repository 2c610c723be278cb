"""`bench/fanout`: subscription fan-out through PostgreSQL LISTEN/NOTIFY (issue 14).

S graphql-ws subscribers of one post's `commentAdded`, on a `gql-app serve` of 1 or 2
workers; E comments per second added through another `gql-app serve` process for T seconds.
Printed: delivery latency (p50, p99) from the moment the comment's mutation was sent (an
upper bound of commit to receipt: the write's own time is in it) and from the moment its
response came (a lower bound: the commit came before it), events lost (expected
minus received, must be 0), the subscribers' server CPU and the client's CPU per delivered
event (the client is bench/wsclient.py: one process, many sockets, on the same cores), how
the sockets spread over the workers, the RSS that the idle subscriptions added (in all, and
per 1,000) and the load average at the end. A throwaway PostgreSQL cluster is started
unless --database-url names one (an empty database the migrations may run on).

    bench/fanout --subscribers 1000 --rate 10 --seconds 20 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from math import nan
from pathlib import Path

import httpx
import orjson

from bench import procstat
from bench.database import app_url
from bench.servers import gql_app_server
from bench.wsclient import Subscriber, connect_many, ws_url
from gql_app.core.config import load_settings
from gql_app.db import migrate
from tests.support.postgres import (
    SCRATCH_DB,
    PostgresCluster,
    _postgres_bindir,
    _recreate_database,
)
from tests.support.realtime import ADD_COMMENT, COMMENT_ADDED, make_member, new_post

PROBE_WAIT_SECONDS = 2.0


@dataclass
class Receipts:
    """What the subscribers received: when each comment event came, by sequence number."""

    received: list[tuple[int, float]] = field(default_factory=list)
    count: int = 0
    expected: int = 0
    ended: int = 0  # `error` or `complete` messages: a subscription that stopped early
    sent_at: dict[int, float] = field(default_factory=dict)
    answered_at: dict[int, float] = field(default_factory=dict)  # the mutation's response
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, subscriber: Subscriber, text: bytes) -> None:
        message = orjson.loads(text)
        if message["type"] != "next":
            self.ended += 1
            return
        sequence = int(message["payload"]["data"]["commentAdded"]["body"])
        if sequence < 0:  # a probe: the subscription is live
            if not subscriber.live.done():
                subscriber.live.set_result(None)
            return
        self.count += 1
        self.received.append((sequence, time.monotonic()))
        if self.count >= self.expected:
            self.complete.set()

    def latencies(self, since: dict[int, float]) -> list[float]:
        """Sorted: each receipt's time since `since` of its comment (sent or answered)."""
        return sorted(at - since[sequence] for sequence, at in self.received)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    if not latencies:
        return nan, nan
    return 1000 * statistics.median(latencies), 1000 * latencies[int(0.99 * (len(latencies) - 1))]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/fanout", description=__doc__)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: own)")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10, help="comments per second")
    parser.add_argument("--seconds", type=float, default=10, help="0: only the idle figures")
    parser.add_argument("--workers", type=int, default=1, help="workers of the subscribers' server")
    parser.add_argument("--out", type=Path, help="where the servers' logs go")
    return parser


@contextmanager
def _database(given: str | None) -> Iterator[str]:
    if given is not None:
        yield given
        return
    bindir = _postgres_bindir()
    if bindir is None:
        raise SystemExit("bench/fanout: no PostgreSQL server binaries; pass --database-url")
    cluster = PostgresCluster(bindir)
    cluster.init()
    cluster.start()
    try:
        asyncio.run(_recreate_database(cluster.url, SCRATCH_DB))
        yield cluster.url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    finally:
        cluster.remove()


def _open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def _run(args: argparse.Namespace, url: str, logs: Path) -> dict[str, object]:
    with (
        gql_app_server(
            url, args.workers, logs / "subscribers.log", {"MAX_CONNECTIONS": "0"}
        ) as subscribers,
        gql_app_server(url, 1, logs / "writer.log", {}) as writer,
        httpx.Client(base_url=writer.url.removesuffix("/graphql")) as client,
    ):
        author = await make_member(app_url(url), "fanout")
        post = await new_post(writer.url.removesuffix("/graphql"), author)

        def add_comment(body: str) -> None:
            variables = {"post": post, "body": body}
            client.post(
                "/graphql",
                json={"query": ADD_COMMENT, "variables": variables},
                headers=author.headers,
            ).raise_for_status()

        workers = subscribers.workers()
        before = sum(procstat.memory(pid).rss for pid in workers)
        files_before = [_open_files(pid) for pid in workers]
        receipts = Receipts()
        sockets = await connect_many(ws_url(subscribers), args.subscribers, receipts.record)
        subscribe = {"query": COMMENT_ADDED, "variables": {"post": post}}
        for socket in sockets:
            socket.send({"id": "1", "type": "subscribe", "payload": subscribe})
        # A subscription is live once it delivered a probe (probes are numbered below zero).
        probe = -1
        while not all(socket.live.done() for socket in sockets):
            add_comment(str(probe))
            probe -= 1
            await asyncio.wait([socket.live for socket in sockets], timeout=PROBE_WAIT_SECONDS)
        idle = sum(procstat.memory(pid).rss for pid in workers)
        per_worker = [
            _open_files(pid) - was for pid, was in zip(workers, files_before, strict=True)
        ]
        total = int(args.rate * args.seconds)
        expected = receipts.expected = total * len(sockets)
        if expected == 0:
            receipts.complete.set()
        print(f"bench/fanout: {len(sockets)} subscriptions live", file=sys.stderr, flush=True)
        cpu_before = procstat.cpu_seconds(subscribers.processes())
        client_before = time.process_time()
        started = time.monotonic()
        for sequence in range(total):
            await asyncio.sleep(max(0.0, started + sequence / args.rate - time.monotonic()))
            receipts.sent_at[sequence] = time.monotonic()
            await asyncio.to_thread(add_comment, str(sequence))
            receipts.answered_at[sequence] = time.monotonic()
        delivered = -1
        while receipts.count != delivered:  # lost: what has not come once 10 s pass without any
            delivered = receipts.count
            with suppress(TimeoutError):
                await asyncio.wait_for(receipts.complete.wait(), 10)
        cpu = procstat.cpu_seconds(subscribers.processes()) - cpu_before
        client_cpu = time.process_time() - client_before
        load = os.getloadavg()
        for socket in sockets:
            socket.close()
    p50, p99 = _percentiles(receipts.latencies(receipts.sent_at))
    p50_answered, p99_answered = _percentiles(receipts.latencies(receipts.answered_at))
    return {
        "subscribers": len(sockets),
        "workers": args.workers,
        "fds_added_per_worker": "/".join(str(count) for count in per_worker),
        "comments": total,
        "delivered": receipts.count,
        "lost": expected - receipts.count,
        "ended_early": receipts.ended,
        "p50_ms": p50,
        "p99_ms": p99,
        "p50_ms_from_response": p50_answered,
        "p99_ms_from_response": p99_answered,
        "server_cpu_us_per_event": 1e6 * cpu / receipts.count if receipts.count else nan,
        "client_cpu_us_per_event": 1e6 * client_cpu / receipts.count if receipts.count else nan,
        "rss_mb_per_1000_idle": (idle - before) / len(sockets) * 1000 / 2**20,
        "rss_mb_added": (idle - before) / 2**20,
        "load_average": " ".join(f"{value:.2f}" for value in load),
    }


def main() -> None:
    args = _parser().parse_args()
    logs = args.out or Path(tempfile.mkdtemp(prefix="gql_app_fanout_"))
    logs.mkdir(parents=True, exist_ok=True)
    with _database(args.database_url) as url:
        asyncio.run(migrate.upgrade(load_settings(database_url=url)))
        figures = asyncio.run(_run(args, url, logs))
    for name, value in figures.items():
        print(f"{name:>22}: {value:.1f}" if isinstance(value, float) else f"{name:>22}: {value}")
    print(f"{'logs':>22}: {logs}")


if __name__ == "__main__":
    main()
