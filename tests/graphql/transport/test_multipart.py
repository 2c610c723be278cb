"""Multipart subscriptions over HTTP (`Accept: multipart/mixed;subscriptionSpec=1.0`, what
Apollo Client's HttpLink speaks), on real servers and both databases, read with httpx."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.graphql.transport.conftest import Live
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


async def test_a_multipart_subscription_streams_comments_and_ends_with_its_post(
    live: Live,
) -> None:
    author = await make_member(live.url, f"u{uuid.uuid4().hex[:12]}")
    post = await new_post(live.writer.base_url, author)
    body = {"query": COMMENT_ADDED, "variables": {"post": post}}
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=live.subscribed.base_url, timeout=WAIT_SECONDS) as client,
        client.stream("POST", "/graphql", json=body, headers={"Accept": MULTIPART}) as response,
    ):
        stream = parts(response)
        assert await anext(stream) == {}  # the first heartbeat: the subscription is set up
        for number in range(20):
            await call(live.writer.base_url, ADD_COMMENT, author, post=post, body=f"c{number}")
            part = await asyncio.wait_for(anext(stream), WAIT_SECONDS)
            if part:
                seen.append(part["payload"]["data"]["commentAdded"]["body"])
            if len(seen) == 2:
                break
        await call(live.writer.base_url, DELETE_POST, author, id=post)
        rest = [part async for part in stream if part]
    assert response.headers["content-type"].startswith("multipart/mixed")
    assert seen[-2:] == [f"c{number - 1}", f"c{number}"]
    assert rest == []


async def test_a_multipart_subscription_to_a_malformed_id_is_a_coded_error(live: Live) -> None:
    body = {"query": COMMENT_ADDED, "variables": {"post": "bad"}}
    async with (
        httpx.AsyncClient(base_url=live.subscribed.base_url, timeout=WAIT_SECONDS) as client,
        client.stream("POST", "/graphql", json=body, headers={"Accept": MULTIPART}) as response,
    ):
        received = [part async for part in parts(response) if part]
    errors = received[0]["payload"]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"]


async def test_a_multipart_request_with_a_syntax_error_is_answered_with_that_error(
    live: Live,
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.subscribed.base_url, timeout=WAIT_SECONDS) as client,
        client.stream(
            "POST", "/graphql", json={"query": "subscription {"}, headers={"Accept": MULTIPART}
        ) as response,
    ):
        received = [part async for part in parts(response) if part]
    assert received[0]["payload"]["errors"][0]["message"].startswith("Syntax Error")


async def test_a_query_sent_as_a_multipart_subscription_is_refused_in_words(live: Live) -> None:
    async with (
        httpx.AsyncClient(base_url=live.subscribed.base_url, timeout=WAIT_SECONDS) as client,
        client.stream(
            "POST", "/graphql", json={"query": "{ __typename }"}, headers={"Accept": MULTIPART}
        ) as response,
    ):
        received = [part async for part in parts(response) if part]
    assert received[0]["payload"]["errors"][0]["message"] == "queries are not allowed"


async def test_a_subscription_posted_without_the_multipart_accept_is_a_coded_request_error(
    live: Live,
) -> None:
    async with httpx.AsyncClient(base_url=live.subscribed.base_url) as client:
        response = await client.post(
            "/graphql", json={"query": "subscription { postAdded { id } }"}
        )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "multipart/mixed;subscriptionSpec=1.0" in error["message"]
    assert "data" not in response.json()
