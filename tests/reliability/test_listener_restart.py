"""Issue 14: the worker's LISTEN connection survives a PostgreSQL restart. A subscription
opened before the restart stays open and receives what is committed after it, and once the
sockets close no connection of the app is left busy or idle in transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.reliability.conftest import assert_no_leaks, settled_connections
from tests.support.postgres import PostgresCluster
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    call,
    connected,
    make_member,
    new_post,
    subscribe,
    until_live,
)
from tests.support.server import serving


async def test_a_subscription_receives_events_again_after_postgres_restarts(
    reliability_url: str, own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    author = await make_member(reliability_url, "restarted")
    with serving(reliability_url, tmp_path / "serve.log", db_pool_size=2) as served:
        post = await new_post(served.base_url, author)
        socket = await connected(served.base_url)
        await subscribe(socket, "1", COMMENT_ADDED, post=post)

        async def probe(attempt: int) -> None:
            await call(served.base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

        await until_live(socket, probe)
        await asyncio.to_thread(own_postgres.stop)
        await asyncio.to_thread(own_postgres.start)
        after = await until_live(socket, probe)
        await socket.close()
        states = await settled_connections(reliability_url, limit=3)
    assert after["payload"]["data"]["commentAdded"]["body"].startswith("probe")
    assert_no_leaks(states, limit=3)
