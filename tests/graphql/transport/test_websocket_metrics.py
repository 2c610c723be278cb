"""The real-time figures of `gql-app serve` (METRICS_PORT), scraped with prometheus-client's
parser after a known sequence over real sockets: open sockets, active subscriptions and
events delivered, while they are open and after they closed."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

from tests.app.test_serve_metrics import Scrape, scrape
from tests.graphql.transport.conftest import REALTIME_SETTINGS
from tests.support.net import free_port
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    WAIT_SECONDS,
    call,
    connected,
    make_member,
    new_post,
    receive,
    subscribe,
    until_live,
)
from tests.support.server import serving

SOCKETS, ACTIVE = "gql_app_websocket_connections", "gql_app_subscriptions_active"
DELIVERED = "gql_app_subscription_events_delivered_total"


@dataclass(frozen=True)
class Metered:
    base_url: str
    url: str  # its database


@pytest.fixture
def metered(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Metered, int]]:
    """A server with metrics on (SQLite: one process, the in-process fan-out), its metrics port."""
    shutil.copyfile(sqlite_template, tmp_path / "test.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    port = free_port()
    with serving(url, tmp_path / "serve.log", metrics_port=port, **REALTIME_SETTINGS) as served:
        yield Metered(served.base_url, url), port


async def _settled(port: int, **wanted: float) -> Scrape:
    """A scrape once the gauges read `wanted` (the server notices a close a little later)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        metrics = scrape(port)
        if all(metrics.value(name) == value for name, value in wanted.items()):
            return metrics
        assert time.monotonic() < deadline, {name: metrics.value(name) for name in wanted}
        await asyncio.sleep(0.05)


async def _nexts_until(socket: ClientConnection, body: str) -> int:
    """The `next` messages read from `socket` up to the comment `body`'s, included."""
    count = 0
    while True:
        message = await receive(socket)
        assert message["type"] == "next", message
        count += 1
        if message["payload"]["data"]["commentAdded"]["body"] == body:
            return count


async def test_sockets_subscriptions_and_events_delivered_are_counted(
    metered: tuple[Metered, int],
) -> None:
    served, port = metered
    author = await make_member(served.url, "metered")
    sockets = [await connected(served.base_url) for _ in range(3)]  # the third subscribes to none
    delivered = 0
    for socket in sockets[:2]:  # a post each: two groups, each its own events
        post = await new_post(served.base_url, author)
        await subscribe(socket, "1", COMMENT_ADDED, post=post)

        async def probe(attempt: int, post: str = post) -> None:
            await call(served.base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

        await until_live(socket, probe)
        await call(served.base_url, ADD_COMMENT, author, post=post, body="last")
        delivered += 1 + await _nexts_until(socket, "last")
    open_figures = await _settled(port, **{SOCKETS: 3, ACTIVE: 2})
    for socket in sockets:
        await socket.close()
    closed = await _settled(port, **{SOCKETS: 0, ACTIVE: 0})
    assert open_figures.value(DELIVERED) == delivered
    assert closed.value(DELIVERED) == delivered
