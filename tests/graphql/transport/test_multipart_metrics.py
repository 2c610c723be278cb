"""Multipart (HTTP) subscriptions in the subscription figures of `gql-app serve`
(METRICS_PORT), as WebSocket ones are: active while they stream, their events delivered."""

from __future__ import annotations

import asyncio

import httpx

from tests.graphql.transport.conftest import Metered
from tests.support.metrics import ACTIVE, DELIVERED, settled
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    DELETE_POST,
    MULTIPART,
    WAIT_SECONDS,
    call,
    make_member,
    new_post,
    parts,
)


async def test_a_multipart_subscription_is_active_while_it_streams_and_its_events_delivered(
    metered: tuple[Metered, int],
) -> None:
    served, port = metered
    author = await make_member(served.url, "multipart")
    post = await new_post(served.base_url, author)
    body = {"query": COMMENT_ADDED, "variables": {"post": post}}
    received = 0
    async with (
        httpx.AsyncClient(base_url=served.base_url, timeout=WAIT_SECONDS) as client,
        client.stream("POST", "/graphql", json=body, headers={"Accept": MULTIPART}) as response,
    ):
        stream = parts(response)
        assert await anext(stream) == {}  # the first heartbeat: the subscription is set up
        streaming = await settled(port, {ACTIVE: 1})
        for number in range(20):
            await call(served.base_url, ADD_COMMENT, author, post=post, body=f"c{number}")
            if await asyncio.wait_for(anext(stream), WAIT_SECONDS):
                received += 1
            if received == 2:
                break
        await call(served.base_url, DELETE_POST, author, id=post)  # the stream ends with it
        received += len([part async for part in stream if part])
    ended = await settled(port, {ACTIVE: 0, DELIVERED: received})
    assert streaming.value(ACTIVE) == 1
    assert (ended.value(ACTIVE), ended.value(DELIVERED)) == (0, received)
    assert received >= 2
