"""Issue 5.5 and issue 4's statement timeout: a request that runs too long, is cancelled, or
whose client goes away leaves no connection busy or `idle in transaction` behind."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import asyncpg
import httpx

from tests.reliability.conftest import (
    UPDATE_POST,
    Blog,
    assert_no_leaks,
    error_codes,
    holding,
    reliability_settings,
    settled_connections,
    succeeded,
)
from tests.support.app import post_graphql, running_app
from tests.support.server import serving

_LOCK_POST = "SELECT id FROM posts WHERE id = $1 FOR UPDATE"


def _update(blog: Blog, title: str) -> dict[str, object]:
    return {"input": {"id": blog.post(), "title": title}}


async def _title(url: str, post_id: int) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SELECT title FROM posts WHERE id = $1", post_id))
    finally:
        await connection.close()


async def test_a_request_past_the_statement_timeout_gets_query_timeout_and_changes_nothing(
    reliability_url: str, blog: Blog
) -> None:
    settings = reliability_settings(reliability_url, db_statement_timeout_ms=300)
    async with running_app(settings) as (_, client):
        async with holding(reliability_url, _LOCK_POST, blog.post_ids[0]):
            timed_out = await post_graphql(client, UPDATE_POST, _update(blog, "late"), blog.token)
        after = await post_graphql(client, UPDATE_POST, _update(blog, "in time"), blog.token)
    assert (timed_out.status_code, error_codes(timed_out)) == (200, ["QUERY_TIMEOUT"])
    assert succeeded(after)
    assert await _title(reliability_url, blog.post_ids[0]) == "in time"
    assert_no_leaks(await settled_connections(reliability_url, limit=2), limit=2)


async def test_a_request_cancelled_mid_statement_rolls_back_and_returns_its_connection(
    reliability_url: str, blog: Blog
) -> None:
    async with running_app(reliability_settings(reliability_url)) as (_, client):
        async with holding(reliability_url, _LOCK_POST, blog.post_ids[0]):
            request = asyncio.create_task(
                post_graphql(client, UPDATE_POST, _update(blog, "cancelled"), blog.token)
            )
            await asyncio.sleep(0.3)
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
        after = await post_graphql(client, UPDATE_POST, _update(blog, "after"), blog.token)
        assert request.cancelled()
        assert succeeded(after)
    assert_no_leaks(await settled_connections(reliability_url, limit=2), limit=2)


def _post_and_hang_up(port: int, body: bytes, token: str) -> None:
    """Send a GraphQL POST, then close the socket without reading the response."""
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)


async def test_a_client_that_hangs_up_mid_request_leaves_no_connection_behind(
    reliability_url: str, blog: Blog, tmp_path: Path
) -> None:
    body = json.dumps({"query": UPDATE_POST, "variables": _update(blog, "gone")}).encode()
    with serving(reliability_url, tmp_path / "server.log", db_pool_size=2) as server:
        async with holding(reliability_url, _LOCK_POST, blog.post_ids[0]):
            for _ in range(3):
                _post_and_hang_up(server.port, body, blog.token)
            await asyncio.sleep(0.5)
        states = await settled_connections(reliability_url, limit=2)
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            after = await post_graphql(client, UPDATE_POST, _update(blog, "after"), blog.token)
    assert_no_leaks(states, limit=2)
    assert succeeded(after)
