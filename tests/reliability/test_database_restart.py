"""Issue 5.2: while PostgreSQL is down requests fail fast with DATABASE_UNAVAILABLE and /readyz
is 503; once it is back they succeed again, the app never restarted, no stale connection shown."""

from __future__ import annotations

import asyncio
import time

from tests.reliability.conftest import (
    POSTS,
    Blog,
    Call,
    Stream,
    assert_no_leaks,
    reliability_settings,
    settled_connections,
)
from tests.support.app import running_app
from tests.support.postgres import PostgresCluster

CLIENTS = 4
CONNECT_TIMEOUT = 2.0
MARGIN = 1.0
HEAL_SECONDS = 2.0


async def test_a_restart_of_postgres_fails_requests_fast_and_heals_within_seconds(
    reliability_url: str, own_postgres: PostgresCluster, blog: Blog
) -> None:
    settings = reliability_settings(
        reliability_url, db_pool_size=4, db_connect_timeout=CONNECT_TIMEOUT, db_pool_timeout=5
    )
    async with running_app(settings) as (_, client):
        stream = Stream(client, [Call(POSTS)])
        stream.start(CLIENTS)
        await asyncio.sleep(0.5)
        stopping = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        stopped = time.monotonic()
        await asyncio.sleep(1.0)
        health = await client.get("/readyz")
        starting = time.monotonic()  # the server answers before `start` returns
        await asyncio.to_thread(own_postgres.start)
        started = time.monotonic()
        await asyncio.sleep(HEAL_SECONDS + 1.0)
        await stream.stop()
    before, down = stream.between(0, stopping), stream.between(stopped, starting)
    healed = [o.ended for o in stream.between(started, time.monotonic()) if o.what == "ok"]
    after_heal = {o.what for o in stream.between(healed[0], time.monotonic())} if healed else {}
    assert stream.kinds() == {"ok", "DATABASE_UNAVAILABLE"}
    assert before
    assert {o.what for o in before} == {"ok"}
    assert down
    assert {o.what for o in down} == {"DATABASE_UNAVAILABLE"}
    assert max(o.seconds for o in down) < CONNECT_TIMEOUT + MARGIN
    assert (health.status_code, health.json()["code"]) == (503, "DATABASE_UNAVAILABLE")
    assert healed
    assert healed[0] - started < HEAL_SECONDS
    assert after_heal == {"ok"}
    assert_no_leaks(await settled_connections(reliability_url, limit=4), limit=4)
