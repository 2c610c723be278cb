"""Idle subscriptions held open on a server while bench/run measures it
(`--idle-subscriptions N`): do queries and mutations keep their throughput beside them?

The sockets live in a thread of their own with its own event loop (bench/wsclient.py), so
the measuring code stays as it is. Each socket runs one `postUpdated` subscription of a
post that the workload never updates: it receives nothing but the keep-alive pings, which
it answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bench.servers import Server
from bench.wsclient import Subscriber, connect_many, ws_url

POST_UPDATED = "subscription($post: ID!) { postUpdated(postId: $post) { title } }"
OPEN_TIMEOUT_SECONDS = 600.0
SETTLE_SECONDS = 2.0  # for the last set-ups to finish before the first window


@contextmanager
def idle_subscriptions(server: Server, count: int, post: str) -> Iterator[None]:
    """`count` sockets, each with a live `postUpdated(postId: post)`, while the block runs."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="idle-subscriptions", daemon=True)
    thread.start()
    ended: list[bytes] = []

    def on_message(_: Subscriber, text: bytes) -> None:
        ended.append(text)  # an idle subscription gets no event: this is its error or end

    async def open_all() -> list[Subscriber]:
        sockets = await connect_many(ws_url(server), count, on_message)
        subscribe = {"query": POST_UPDATED, "variables": {"post": post}}
        for socket in sockets:
            socket.send({"id": "idle", "type": "subscribe", "payload": subscribe})
        await asyncio.sleep(SETTLE_SECONDS)
        return sockets

    async def close_all(sockets: list[Subscriber]) -> None:
        for socket in sockets:
            socket.close()
        await asyncio.wait([socket.closed for socket in sockets], timeout=30)

    try:
        sockets = asyncio.run_coroutine_threadsafe(open_all(), loop).result(OPEN_TIMEOUT_SECONDS)
        if ended:
            raise SystemExit(f"bench: an idle subscription ended: {ended[0].decode()}")
        print(f"bench: {count} idle subscriptions open on {server.name}", flush=True)
        try:
            yield
        finally:
            asyncio.run_coroutine_threadsafe(close_all(sockets), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
