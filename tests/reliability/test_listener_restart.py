"""Issue 14: the worker's LISTEN connection survives a PostgreSQL restart, the termination of
its backend, and a network drop that sends no packet (found by its ping). A subscription
opened before stays open and receives what is committed after it, and once the sockets
close no connection of the app is left busy or idle in transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tests.reliability.conftest import assert_no_leaks, settled_connections
from tests.support.app import AuthUser
from tests.support.net import SilencingProxy
from tests.support.postgres import PostgresCluster, execute_sql
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

_TERMINATE_LISTENER = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE application_name = 'gql_app_listener'"
)


async def _event_after(
    base_url: str, author: AuthUser, disrupt: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    """Subscribe to a new post's comments, see the subscription live, `disrupt()` the
    listener, and return the first event delivered after it (the socket then closed)."""
    post = await new_post(base_url, author)
    socket = await connected(base_url)
    await subscribe(socket, "1", COMMENT_ADDED, post=post)

    async def probe(attempt: int) -> None:
        await call(base_url, ADD_COMMENT, author, post=post, body=f"probe {attempt}")

    await until_live(socket, probe)
    await disrupt()
    after = await until_live(socket, probe)
    await socket.close()
    return after


async def test_a_subscription_receives_events_again_after_postgres_restarts(
    reliability_url: str, own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    author = await make_member(reliability_url, "restarted")
    with serving(reliability_url, tmp_path / "serve.log", db_pool_size=2) as served:

        async def restart() -> None:
            await asyncio.to_thread(own_postgres.stop)
            await asyncio.to_thread(own_postgres.start)

        after = await _event_after(served.base_url, author, restart)
        states = await settled_connections(reliability_url, limit=3)
    assert after["payload"]["data"]["commentAdded"]["body"].startswith("probe")
    assert_no_leaks(states, limit=3)


async def test_a_subscription_receives_events_again_after_the_listeners_backend_is_killed(
    reliability_url: str, tmp_path: Path
) -> None:
    author = await make_member(reliability_url, "terminated")
    with serving(reliability_url, tmp_path / "serve.log", db_pool_size=2) as served:
        after = await _event_after(
            served.base_url, author, lambda: execute_sql(reliability_url, _TERMINATE_LISTENER)
        )
    assert after["payload"]["data"]["commentAdded"]["body"].startswith("probe")


async def test_a_listen_connection_dropped_without_a_packet_is_pinged_and_replaced(
    reliability_url: str, own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    author = await make_member(reliability_url, "silenced")
    async with SilencingProxy(own_postgres.port) as proxy:
        listen_url = make_url(reliability_url).set(port=proxy.port).render_as_string(False)
        with serving(
            reliability_url,
            tmp_path / "serve.log",
            db_pool_size=2,
            listen_database_url=listen_url,
            listen_ping_seconds=0.5,
        ) as served:

            async def silence() -> None:
                proxy.silence()

            after = await _event_after(served.base_url, author, silence)
    assert after["payload"]["data"]["commentAdded"]["body"].startswith("probe")
