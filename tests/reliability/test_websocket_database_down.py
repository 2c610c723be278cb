"""Issue 14: a socket whose token the database cannot check at `connection_init` (PostgreSQL
is down) is closed with 1013, try again later: not 4403, the token may be good, and not an
unexpected error. Through a real `gql-app serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.postgres import PostgresCluster
from tests.support.realtime import close_code, make_member, open_socket, send
from tests.support.server import serving


async def test_a_token_the_database_cannot_check_at_init_closes_with_1013(
    reliability_url: str, own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    user = await make_member(reliability_url, "unchecked")
    log = tmp_path / "serve.log"
    with serving(reliability_url, log, db_pool_size=2, db_connect_timeout=1) as served:
        socket = await open_socket(served.base_url)
        await asyncio.to_thread(own_postgres.stop)
        try:
            payload = {"Authorization": user.headers["Authorization"]}
            await send(socket, {"type": "connection_init", "payload": payload})
            code = await close_code(socket)
        finally:
            await asyncio.to_thread(own_postgres.start)
    assert code == 1013
    assert "Traceback" not in log.read_text()
