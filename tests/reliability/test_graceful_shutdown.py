"""Issue 5.7: SIGTERM to `gql-app serve` under load lets in-flight requests complete, refuses
new ones, disposes of the engine and exits 0 within SHUTDOWN_GRACE_SECONDS."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import (
    UPDATE_POST,
    Blog,
    holding,
    settled_connections,
    succeeded,
)
from tests.support.app import post_graphql
from tests.support.realtime import close_code, connected
from tests.support.server import serving

GRACE_SECONDS = 5
IN_FLIGHT = 3
_LOCK_POST = "SELECT id FROM posts WHERE id = $1 FOR UPDATE"


async def test_sigterm_under_load_completes_in_flight_requests_and_exits_zero(
    reliability_url: str, blog: Blog, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with serving(reliability_url, log, shutdown_grace_seconds=GRACE_SECONDS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            async with holding(reliability_url, _LOCK_POST, blog.post_ids[0]):
                in_flight = [
                    asyncio.create_task(
                        post_graphql(
                            client,
                            UPDATE_POST,
                            {"input": {"id": blog.post(), "title": f"in flight {n}"}},
                            blog.token,
                        )
                    )
                    for n in range(IN_FLIGHT)
                ]
                await asyncio.sleep(0.5)
                server.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.sleep(0.5)
                with pytest.raises(httpx.ConnectError):
                    async with httpx.AsyncClient(base_url=server.base_url) as newcomer:
                        await newcomer.get("/healthz")
            responses = await asyncio.gather(*in_flight)
        exit_code = await asyncio.to_thread(server.process.wait, GRACE_SECONDS + 5)
        stopped_after = time.monotonic() - signalled
    assert all(succeeded(r) for r in responses), [r.text for r in responses]
    assert exit_code == 0, log.read_text()
    assert stopped_after < GRACE_SECONDS
    assert await settled_connections(reliability_url, limit=0) == []


async def test_sigterm_closes_open_websockets_with_1001_and_exits_zero(
    reliability_url: str, tmp_path: Path
) -> None:
    with serving(
        reliability_url, tmp_path / "server.log", shutdown_grace_seconds=GRACE_SECONDS
    ) as server:
        socket = await connected(server.base_url)
        server.process.send_signal(signal.SIGTERM)
        code = await close_code(socket)
        status = await asyncio.to_thread(server.process.wait, GRACE_SECONDS + 5)
    assert (code, status) == (1001, 0)
