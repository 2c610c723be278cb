"""The statements that publish events: `pg_notify` inside the writing transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from sqlalchemy import Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app.queries.rows import execute_core

# The LISTEN connection's liveness check, on the driver's own connection (db/listener.py).
_LISTENER_PING = "SELECT 1"


_notify = select(func.pg_notify(bindparam("channel"), bindparam("payload")))


_payloads = func.unnest(bindparam("payloads", type_=ARRAY(Text))).column_valued("payload")


_notify_all = select(func.pg_notify(bindparam("channel"), _payloads))


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """NOTIFY `channel` with `payload` when the session's transaction commits (PostgreSQL)."""
    await execute_core(session, _notify, {"channel": channel, "payload": payload})


async def notify_all(session: AsyncSession, channel: str, payloads: Sequence[str]) -> None:
    """NOTIFY `channel` with each of `payloads`, in order, in one statement (PostgreSQL)."""
    await execute_core(session, _notify_all, {"channel": channel, "payloads": list(payloads)})


async def ping_listener(connection: asyncpg.Connection) -> None:
    """One round trip on the LISTEN connection."""
    await connection.execute(_LISTENER_PING)
