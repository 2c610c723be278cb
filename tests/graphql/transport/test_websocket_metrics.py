"""The real-time figures of `gql-app serve` (METRICS_PORT), scraped with prometheus-client's
parser after a known sequence over real sockets: open sockets, active subscriptions and
events delivered, while they are open and after they closed."""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection

from tests.graphql.transport.conftest import Metered
from tests.support.metrics import ACTIVE, DELIVERED, SOCKETS, settled
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    call,
    connected,
    make_member,
    new_post,
    receive,
    subscribe,
    until_live,
)


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
    open_figures = await settled(port, {SOCKETS: 3, ACTIVE: 2, DELIVERED: delivered})
    for socket in sockets:
        await socket.close()
    closed = await settled(port, {SOCKETS: 0, ACTIVE: 0})
    assert (open_figures.value(SOCKETS), open_figures.value(ACTIVE)) == (3, 2)
    assert open_figures.value(DELIVERED) == delivered
    assert (closed.value(SOCKETS), closed.value(ACTIVE)) == (0, 0)
    assert closed.value(DELIVERED) == delivered
