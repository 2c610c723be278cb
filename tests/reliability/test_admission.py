"""MAX_CONCURRENT_REQUESTS: GraphQL requests past the limit wait their turn, before they hold
anything (a session, a connection); health checks never wait."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from gql_app.domain.security import password_context
from tests.reliability.conftest import (
    POSTS,
    Blog,
    app_connections,
    holding,
    reliability_settings,
    succeeded,
)
from tests.support.app import post_graphql, running_app

LOGIN = "mutation($input: LoginInput!) { login(input: $input) { __typename } }"
# Readers block behind this lock, each holding its pooled connection meanwhile.
_LOCK_POSTS = "LOCK TABLE posts IN ACCESS EXCLUSIVE MODE"


async def _waiting_connections(url: str) -> int:
    """The app's connections waiting on a lock (the blocked readers)."""
    return sum(connection.state == "active" for connection in await app_connections(url))


@dataclass(frozen=True)
class Burst:
    """What `requests` concurrent queries did while the posts table was locked."""

    blocked: int  # connections waiting on the lock: the requests admitted
    done_while_locked: int
    health_status: int
    all_succeeded: bool


async def _burst(url: str, requests: int, limit: int) -> Burst:
    settings = reliability_settings(url, db_pool_size=4, max_concurrent_requests=limit)
    async with running_app(settings) as (_, client):
        async with holding(url, _LOCK_POSTS):
            tasks = [asyncio.create_task(post_graphql(client, POSTS)) for _ in range(requests)]
            await asyncio.sleep(0.5)
            blocked = await _waiting_connections(url)
            health = await client.get("/healthz")
            done_while_locked = sum(task.done() for task in tasks)
        responses = await asyncio.gather(*tasks)
    return Burst(blocked, done_while_locked, health.status_code, all(map(succeeded, responses)))


async def test_requests_past_the_limit_wait_without_a_connection_and_all_complete(
    reliability_url: str, blog: Blog
) -> None:
    burst = await _burst(reliability_url, requests=5, limit=2)
    assert burst == Burst(blocked=2, done_while_locked=0, health_status=200, all_succeeded=True)


async def test_a_limit_of_zero_admits_every_request_at_once(
    reliability_url: str, blog: Blog
) -> None:
    burst = await _burst(reliability_url, requests=4, limit=0)
    assert burst == Burst(blocked=4, done_while_locked=0, health_status=200, all_succeeded=True)


async def test_a_request_waiting_on_password_hashing_lends_its_slot(
    reliability_url: str, blog: Blog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one slot, a login blocked inside the password check does not hold up a query."""
    loop = asyncio.get_running_loop()
    hashing = asyncio.Event()
    answered = threading.Event()
    verify = password_context.verify

    def gated(secret: str | bytes, stored: str, **kwargs: Any) -> bool:
        loop.call_soon_threadsafe(hashing.set)
        assert answered.wait(timeout=30), "the query was not answered while the login hashed"
        return verify(secret, stored, **kwargs)

    monkeypatch.setattr(password_context, "verify", gated)
    settings = reliability_settings(reliability_url, max_concurrent_requests=1)
    async with running_app(settings) as (_, client):
        login = asyncio.create_task(
            post_graphql(client, LOGIN, {"input": {"login": "nobody", "password": "x" * 12}})
        )
        await asyncio.wait_for(hashing.wait(), timeout=30)
        query = await asyncio.wait_for(post_graphql(client, POSTS), timeout=30)
        answered.set()
        logged_in = await login
    assert succeeded(query)
    assert logged_in.json()["data"]["login"]["__typename"] == "InvalidCredentials"
