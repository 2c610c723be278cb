"""The statement that publishes an event: `pg_notify` inside the writing transaction."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app.queries.rows import execute_core

_notify = select(func.pg_notify(bindparam("channel"), bindparam("payload")))


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """NOTIFY `channel` with `payload` when the session's transaction commits (PostgreSQL)."""
    await execute_core(session, _notify, {"channel": channel, "payload": payload})
