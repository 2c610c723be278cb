"""Health and monitoring SQL: pings, counts, and the server's view of its connections."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import (
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gql_app.db import ReplicationQueries
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


# Replication (gql_app/db/replicas.py): WAL positions as PostgreSQL writes them, `16/B374D848`.
_commit_position = text("SELECT pg_current_wal_insert_lsn()::text")


_flushed_position = text("SELECT pg_current_wal_flush_lsn()::text")


_replay_position = text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")


async def commit_position(connection: AsyncConnection) -> str:
    """PostgreSQL primary only: a WAL position at or past the end of every transaction
    committed so far (the insert position: with `synchronous_commit=off` the commit may not
    be flushed yet)."""
    position: str = await connection.scalar(_commit_position)
    return position


async def flushed_position(connection: AsyncConnection) -> str:
    """PostgreSQL primary only: how far its WAL is flushed (as far as a replica can replay)."""
    position: str = await connection.scalar(_flushed_position)
    return position


async def replay_position(connection: AsyncConnection) -> tuple[bool, str | None]:
    """PostgreSQL: whether the server is a replica (in recovery), and how far it replayed."""
    row = (await connection.execute(_replay_position)).one()
    return bool(row[0]), row[1]


REPLICATION = ReplicationQueries(commit_position, flushed_position, replay_position)


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
