"""Issue 5.4: a migration applied while the app serves invalidates the statements its
connections prepared; the affected units of work are rerun, and no client sees an error."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.reliability.conftest import (
    Blog,
    Stream,
    assert_no_leaks,
    mixed_calls,
    reliability_settings,
    settled_connections,
)
from tests.support.app import running_app
from tests.support.postgres import execute_sql

# What a migration of the table every hot query reads might do: widen a column they return
# (which changes their result type) and add one.
_MIGRATION = (
    "ALTER TABLE posts ALTER COLUMN title TYPE varchar(300)",
    "ALTER TABLE posts ADD COLUMN summary text",
)


async def test_a_migration_while_serving_shows_no_client_a_stale_statement(
    reliability_url: str, blog: Blog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gql_app.db")
    settings = reliability_settings(reliability_url, db_pool_size=4, db_pool_timeout=10)
    async with running_app(settings) as (_, client):
        stream = Stream(client, mixed_calls(blog))
        stream.start(4)
        await asyncio.sleep(1)
        await execute_sql(reliability_url, *_MIGRATION)
        await asyncio.sleep(2)
        await stream.stop()
    reruns = [r for r in caplog.records if "made stale by a schema change" in r.getMessage()]
    assert reruns, "no statement went stale: the test proves nothing"
    assert stream.kinds() == {"ok"}
    assert_no_leaks(await settled_connections(reliability_url, limit=4), limit=4)
