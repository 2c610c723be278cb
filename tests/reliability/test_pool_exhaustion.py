"""Issue 5.1: an exhausted pool answers DATABASE_BUSY within the pool timeout, then heals."""

from __future__ import annotations

import asyncio
import time

import httpx

from gql_app.core.resources import resources_of
from tests.reliability.conftest import (
    POSTS,
    Blog,
    assert_no_leaks,
    error_codes,
    holding,
    reliability_settings,
    settled_connections,
    succeeded,
)
from tests.support.app import post_graphql, running_app

POOL_TIMEOUT = 1.0
MARGIN = 1.5
REQUESTS = 40
# Readers block behind this lock, each holding its pooled connection meanwhile.
_LOCK_POSTS = "LOCK TABLE posts IN ACCESS EXCLUSIVE MODE"


async def _timed(client: httpx.AsyncClient) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    response = await post_graphql(client, POSTS)
    return time.monotonic() - began, response


async def test_forty_requests_on_a_pool_of_two_succeed_or_get_database_busy_in_time(
    reliability_url: str, blog: Blog
) -> None:
    # Every request admitted at once: the pool, not admission control, is under test.
    settings = reliability_settings(
        reliability_url, db_pool_timeout=POOL_TIMEOUT, max_concurrent_requests=0
    )
    async with running_app(settings) as (app, client):
        async with holding(reliability_url, _LOCK_POSTS):
            requests = [asyncio.create_task(_timed(client)) for _ in range(REQUESTS)]
            await asyncio.sleep(POOL_TIMEOUT / 2)
            health = await client.get("/readyz")
            await asyncio.sleep(POOL_TIMEOUT + MARGIN)
        async with asyncio.timeout(30):  # none hangs
            results = await asyncio.gather(*requests)
        resources = resources_of(app)
        pool_full = resources.engine.pool.checkedin()  # type: ignore[attr-defined]
        after = await post_graphql(client, POSTS)
    busy = [(seconds, r) for seconds, r in results if error_codes(r) == ["DATABASE_BUSY"]]
    ok = [r for _, r in results if succeeded(r)]
    assert len(busy) + len(ok) == REQUESTS, [r.text for _, r in results]
    assert {r.status_code for _, r in results} == {200}
    assert busy
    assert ok
    assert max(seconds for seconds, _ in busy) < POOL_TIMEOUT + MARGIN
    assert (health.status_code, health.json()["code"]) == (503, "DATABASE_BUSY")
    assert pool_full == 2
    assert succeeded(after)
    assert_no_leaks(await settled_connections(reliability_url, limit=2), limit=2)
