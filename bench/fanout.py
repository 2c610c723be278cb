"""`bench/fanout`: subscription fan-out through PostgreSQL LISTEN/NOTIFY (issue 14).

S graphql-ws subscribers of one post's `commentAdded`, on a `gql-app serve` of 1 or 2
workers; E comments per second added through another `gql-app serve` process for T seconds.
Printed: delivery latency (p50, p99) from the moment the comment's mutation was sent (an
upper bound of commit to receipt: the write's own time is in it), events lost (expected
minus received, must be 0), the subscribers' server CPU per delivered event, and its RSS per
1,000 idle subscriptions. A throwaway PostgreSQL cluster is started unless --database-url
names one (an empty database the migrations may run on).

    bench/fanout --subscribers 1000 --rate 10 --seconds 20 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection

from bench import procstat
from bench.database import app_url
from bench.servers import Server, gql_app_server
from gql_app.core.config import load_settings
from gql_app.db import migrate
from tests.support.postgres import (
    SCRATCH_DB,
    PostgresCluster,
    _postgres_bindir,
    _recreate_database,
)
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    PROTOCOL,
    call,
    make_member,
    new_post,
)

OPEN_CONCURRENCY = 50


@dataclass
class Receipts:
    """What the subscribers received: latency of each comment event, by sequence number."""

    latencies: list[float] = field(default_factory=list)
    count: int = 0
    expected: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, text: str) -> None:
        message = json.loads(text)
        if message["type"] != "next":  # the server's keep-alive pings
            return
        body = message["payload"]["data"]["commentAdded"]["body"]
        sent = self.sent_at.get(int(body))  # probes (below zero) are not counted
        if sent is not None:
            self.count += 1
            self.latencies.append(time.monotonic() - sent)
            if self.count >= self.expected:
                self.complete.set()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/fanout", description=__doc__)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: own)")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10, help="comments per second")
    parser.add_argument("--seconds", type=float, default=10)
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


async def _open(server: Server, count: int) -> list[ClientConnection]:
    url = server.url.replace("http://", "ws://")
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one() -> ClientConnection:
        async with gate:
            socket = await websockets.connect(
                url, subprotocols=[websockets.Subprotocol(PROTOCOL)], max_queue=None
            )
            await socket.send(json.dumps({"type": "connection_init"}))
            await socket.recv()
            return socket

    return await asyncio.gather(*(one() for _ in range(count)))


async def _run(args: argparse.Namespace, url: str, logs: Path) -> dict[str, float]:
    with (
        gql_app_server(
            url, args.workers, logs / "subscribers.log", {"MAX_CONNECTIONS": "0"}
        ) as subscribers,
        gql_app_server(url, 1, logs / "writer.log", {}) as writer,
    ):
        writer_base = writer.url.removesuffix("/graphql")
        author = await make_member(app_url(url), "fanout")
        post = await new_post(writer_base, author)
        before = sum(procstat.memory(pid).rss for pid in subscribers.workers())
        sockets = await _open(subscribers, args.subscribers)
        subscribe = {"query": COMMENT_ADDED, "variables": {"post": post}}
        for socket in sockets:
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        # A subscription is live once it delivered a probe (probes are numbered below zero).
        pending = set(range(len(sockets)))
        probe = -1
        while pending:
            await call(writer_base, ADD_COMMENT, author, post=post, body=str(probe))
            probe -= 1
            for index in sorted(pending):
                try:
                    await asyncio.wait_for(sockets[index].recv(), 1.0)
                    pending.discard(index)
                except TimeoutError:
                    continue
        idle = sum(procstat.memory(pid).rss for pid in subscribers.workers())
        receipts = Receipts()

        async def receive(socket: ClientConnection) -> None:
            async for message in socket:
                receipts.record(str(message))

        readers = [asyncio.create_task(receive(socket)) for socket in sockets]
        total = int(args.rate * args.seconds)
        expected = receipts.expected = total * len(sockets)
        cpu_before = procstat.cpu_seconds(subscribers.processes())
        started = time.monotonic()
        for sequence in range(total):
            await asyncio.sleep(max(0.0, started + sequence / args.rate - time.monotonic()))
            receipts.sent_at[sequence] = time.monotonic()
            await call(writer_base, ADD_COMMENT, author, post=post, body=str(sequence))
        delivered = -1
        while receipts.count != delivered:  # lost: what has not come once 10 s pass without any
            delivered = receipts.count
            with suppress(TimeoutError):
                await asyncio.wait_for(receipts.complete.wait(), 10)
        cpu = procstat.cpu_seconds(subscribers.processes()) - cpu_before
        for reader in readers:
            reader.cancel()
        for socket in sockets:
            await socket.close()
    latencies = sorted(receipts.latencies)
    return {
        "subscribers": len(sockets),
        "workers": args.workers,
        "comments": total,
        "delivered": receipts.count,
        "lost": expected - receipts.count,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "cpu_us_per_event": 1e6 * cpu / max(receipts.count, 1),
        "rss_mb_per_1000_idle": (idle - before) / len(sockets) * 1000 / 2**20,
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
