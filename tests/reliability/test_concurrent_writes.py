"""Issue 5.6: concurrent writes on one post all persist, or win whole; none is a 500."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.reliability.conftest import (
    ADD_COMMENT,
    UPDATE_POST,
    Blog,
    assert_no_leaks,
    reliability_settings,
    settled_connections,
    succeeded,
)
from tests.support.app import post_graphql, running_app

POOL = {"db_pool_size": 5, "db_max_overflow": 5, "db_pool_timeout": 30}


async def _fetch(url: str, query: str, post_id: int) -> asyncpg.Record | None:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchrow(query, post_id)
    finally:
        await connection.close()


async def test_two_hundred_concurrent_comments_on_one_post_all_persist(
    reliability_url: str, blog: Blog
) -> None:
    async with running_app(reliability_settings(reliability_url, **POOL)) as (_, client):
        responses = await asyncio.gather(
            *(
                post_graphql(
                    client,
                    ADD_COMMENT,
                    {"input": {"postId": blog.post(), "body": f"c{n}"}},
                    blog.token,
                )
                for n in range(200)
            )
        )
    stored = await _fetch(
        reliability_url,
        "SELECT count(*), count(DISTINCT body) FROM comments WHERE post_id = $1",
        blog.post_ids[0],
    )
    assert [r.status_code for r in responses] == [200] * 200
    assert all(succeeded(r) for r in responses), next(r.text for r in responses if not succeeded(r))
    assert stored is not None
    assert tuple(stored) == (200, 200)
    assert_no_leaks(await settled_connections(reliability_url, limit=10), limit=10)


async def test_concurrent_updates_of_one_post_end_with_one_submitted_version_whole(
    reliability_url: str, blog: Blog
) -> None:
    versions = [(f"title {n}", f"body {n}") for n in range(50)]
    async with running_app(reliability_settings(reliability_url, **POOL)) as (_, client):
        responses = await asyncio.gather(
            *(
                post_graphql(
                    client,
                    UPDATE_POST,
                    {"input": {"id": blog.post(), "title": title, "body": body}},
                    blog.token,
                )
                for title, body in versions
            )
        )
    stored = await _fetch(
        reliability_url, "SELECT title, body FROM posts WHERE id = $1", blog.post_ids[0]
    )
    assert all(succeeded(r) for r in responses), next(r.text for r in responses if not succeeded(r))
    assert stored is not None
    assert tuple(stored) in versions
    assert_no_leaks(await settled_connections(reliability_url, limit=10), limit=10)
