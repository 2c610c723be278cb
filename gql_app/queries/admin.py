"""Health and monitoring SQL: pings, counts, and the server's view of its connections."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import (
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gql_app.db.models import User

_ping = text("SELECT 1")


_count_users = select(func.count()).select_from(User)


_connections_by_state = text(
    "SELECT coalesce(state, 'unknown') AS state, count(*) AS connections"
    " FROM pg_stat_activity WHERE application_name = :application_name"
    " AND pid <> pg_backend_pid() GROUP BY state ORDER BY state"
)


_connection_tls = text(
    "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
)


_connection_states = text(
    "SELECT coalesce(state, 'unknown') AS state,"
    " coalesce(extract(epoch FROM clock_timestamp() - state_change), 0)::float8 AS seconds,"
    " coalesce(query, '') AS query"
    " FROM pg_stat_activity WHERE application_name = :application_name"
    " AND pid <> pg_backend_pid() ORDER BY state, seconds DESC"
)


async def ping(connection: AsyncConnection) -> None:
    """One round trip to the database."""
    await connection.execute(_ping)


async def count_users(session: AsyncSession) -> int:
    return (await session.execute(_count_users)).scalar_one()


async def connections_by_state(
    connection: AsyncConnection, application_name: str
) -> list[tuple[str, int]]:
    """PostgreSQL only: the application's connections in `pg_stat_activity`, per state."""
    result = await connection.execute(_connections_by_state, {"application_name": application_name})
    return [(row.state, row.connections) for row in result]


async def connection_tls(connection: AsyncConnection) -> str | None:
    """PostgreSQL only: the TLS version of this connection (`TLSv1.3`), None if unencrypted."""
    version: str | None = await connection.scalar(_connection_tls)
    return version


class ConnectionState(NamedTuple):
    state: str
    seconds: float  # in this state so far
    query: str  # the last statement it ran (or runs)


async def connection_states(
    connection: AsyncConnection, application_name: str
) -> list[ConnectionState]:
    """PostgreSQL only: each of the application's connections, its state, for how long, and
    its last statement (an `idle in transaction` one that stays is a leak)."""
    result = await connection.execute(_connection_states, {"application_name": application_name})
    return [ConnectionState(row.state, row.seconds, row.query) for row in result]
