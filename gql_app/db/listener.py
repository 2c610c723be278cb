"""The worker's LISTEN connection on PostgreSQL (DESIGN.md contract 12).

One connection per worker, of its own: not from the request pool (a pooled connection is
shared, and its LISTEN would follow it), and never through a transaction-pooling PgBouncer,
which hands each transaction another server connection and so loses LISTEN
(`LISTEN_DATABASE_URL`, checked at start-up). When the connection breaks (the server
restarted or closed it), it is made again with backoff; what was notified in between is
not seen (README, "Real-time"). A connection can also die without a word (a network drop,
a firewall forgetting it): nothing arrives, not even an error. So the idle connection is
pinged every `LISTEN_PING_SECONDS`, and one that does not answer within as long is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from gql_app import queries
from gql_app.core.background import Background
from gql_app.core.config import Settings, normalize_database_url
from gql_app.core.events import CHANNEL
from gql_app.db.postgresql import APPLICATION_NAME, PoolShape, _postgres_connect_args

logger = logging.getLogger(__name__)

Listener = Callable[[str], None]

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class NotificationListener(Background):
    """LISTENs on `CHANNEL` and calls `deliver(payload)` for each notification, in order."""

    def __init__(self, settings: Settings, deliver: Listener) -> None:
        self._settings = settings
        self._deliver = deliver
        # Set while LISTENing: tests and /readyz-like checks may wait for it.
        self.listening = asyncio.Event()

    def _connect_arguments(self) -> dict[str, Any]:
        raw = self._settings.listen_database_url or self._settings.database_url
        url = normalize_database_url(raw)
        arguments = url.translate_connect_args(username="user") | dict(url.query)
        # TLS and the connect timeout as the pool's connections have them; not its
        # PgBouncer options (SQLAlchemy's, and this connection is a direct one).
        pooled = _postgres_connect_args(
            self._settings, raw, PoolShape(1, 0, f"{APPLICATION_NAME}_listener")
        )
        arguments |= {"timeout": pooled["timeout"], "ssl": pooled["ssl"]}
        arguments["server_settings"] = {"application_name": f"{APPLICATION_NAME}_listener"}
        return arguments

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        self._deliver(str(payload))

    async def run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                await self._listen_until_lost()
                backoff = FIRST_BACKOFF_SECONDS
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning("event listener: cannot listen (%s); retrying", type(exc).__name__)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(**self._connect_arguments())
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(CHANNEL, self._notified)
            self.listening.set()
            ping = self._settings.listen_ping_seconds
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), ping)
                except TimeoutError:
                    async with asyncio.timeout(ping):  # unanswered: TimeoutError, lost
                        await queries.ping_listener(connection)
        finally:
            self.listening.clear()
            connection.terminate()
        logger.warning("event listener: the LISTEN connection was lost; reconnecting")
