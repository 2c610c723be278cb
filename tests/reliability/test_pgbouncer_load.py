"""Issue 5.3: behind PgBouncer in transaction pooling mode, with DB_PGBOUNCER=true, the main
flows and 30 s of concurrent load meet no prepared statement error; without it, they do."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.reliability.conftest import (
    ADD_COMMENT,
    DATABASE,
    POSTS,
    UPDATE_POST,
    Blog,
    Stream,
    assert_no_leaks,
    mixed_calls,
    reliability_settings,
    settled_connections,
    succeeded,
)
from tests.reliability.pgbouncer import PgBouncer
from tests.support.app import post_graphql, running_app

LOAD_SECONDS = 30
CLIENTS = 16
POOL = {"db_pool_size": 8, "db_max_overflow": 0, "db_pool_timeout": 10}
CREATE_POST = """
mutation Create($input: CreatePostInput!) {
  createPost(input: $input) { __typename ... on CreatePostSuccess { post { id } } } }"""
DELETE_POST = """
mutation Delete($input: DeletePostInput!) { deletePost(input: $input) { __typename } }"""


async def _main_flows(client: httpx.AsyncClient, blog: Blog) -> None:
    """Write a post, change it, comment on it, read it all back, delete it."""
    created = await post_graphql(
        client, CREATE_POST, {"input": {"title": "hello", "body": "world"}}, blog.token
    )
    assert succeeded(created), created.text
    post = created.json()["data"]["createPost"]["post"]["id"]
    steps = [
        (UPDATE_POST, {"input": {"id": post, "title": "hello again"}}),
        (ADD_COMMENT, {"input": {"postId": post, "body": "first"}}),
        (POSTS, {}),
        (DELETE_POST, {"input": {"id": post}}),
    ]
    for query, variables in steps:
        response = await post_graphql(client, query, variables, blog.token)
        assert succeeded(response), response.text


def _prepared_statement_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.exc_text or ""
        for record in caplog.records
        if "prepared statement" in (record.exc_text or "")
    ]


async def test_pgbouncer_mode_makes_prepared_statements_safe_where_they_break_without_it(
    pgbouncer: PgBouncer, blog: Blog, reliability_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = pgbouncer.url(DATABASE)
    async with running_app(reliability_settings(url, **POOL)) as (_, client):
        unsafe = Stream(client, mixed_calls(blog))
        unsafe.start(CLIENTS)
        await asyncio.sleep(3)
        await unsafe.stop()
    broken = _prepared_statement_errors(caplog)
    caplog.clear()

    safe_settings = reliability_settings(
        url, db_pgbouncer=True, listen_database_url=reliability_url, **POOL
    )
    async with running_app(safe_settings) as (_, client):
        await _main_flows(client, blog)
        safe = Stream(client, mixed_calls(blog))
        safe.start(CLIENTS)
        await asyncio.sleep(LOAD_SECONDS)
        await safe.stop()

    assert broken, "without DB_PGBOUNCER no prepared statement broke: the test proves nothing"
    assert unsafe.kinds() != {"ok"}
    assert _prepared_statement_errors(caplog) == []
    assert safe.kinds() == {"ok"}
    assert len(safe.outcomes) > CLIENTS * 4  # every client went round its calls
    assert_no_leaks(await settled_connections(reliability_url, limit=4), limit=4)
