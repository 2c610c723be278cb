"""The statements that publish events: `pg_notify` inside the writing transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Select, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate

from gql_app.core.events import CHANNEL, SEPARATOR, EventKind
from gql_app.queries.rows import execute_core

# The LISTEN connection's liveness check, on the driver's own connection (db/listener.py).
_LISTENER_PING = "SELECT 1"


_notify = select(func.pg_notify(bindparam("channel"), bindparam("payload")))


_payloads = func.unnest(bindparam("payloads", type_=ARRAY(Text))).column_valued("payload")


_notify_all = select(func.pg_notify(bindparam("channel"), _payloads))


def notifying(
    write: ReturningInsert[*tuple[Any, ...]]
    | ReturningUpdate[*tuple[Any, ...]]
    | ReturningDelete[*tuple[Any, ...]],
    kind: EventKind,
    *,
    post_id: str,
    row_id: str,
    author_id: str,
) -> Select[*tuple[Any, ...]]:
    """`write` (… RETURNING) and the NOTIFY of a `kind` event for each row it returns, in
    one statement (PostgreSQL): inside the write's transaction (DESIGN.md contract 12), and
    one round trip where a `notify` after the write costs two. `post_id`, `row_id` and
    `author_id` name the returned columns that are the event's ids; PostgreSQL joins the
    payload as `Event.payload` does. Its rows are `write`'s, `pg_notify`'s (void) column last.
    """
    written = write.cte("written")
    payload = func.concat_ws(
        bindparam("event_separator", SEPARATOR, type_=Text),
        bindparam("event_kind", kind.value, type_=Text),
        written.c[post_id],
        written.c[row_id],
        written.c[author_id],
    )
    return select(
        *written.c, func.pg_notify(bindparam("event_channel", CHANNEL, type_=Text), payload)
    )


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """NOTIFY `channel` with `payload` when the session's transaction commits (PostgreSQL)."""
    await execute_core(session, _notify, {"channel": channel, "payload": payload})


async def notify_all(session: AsyncSession, channel: str, payloads: Sequence[str]) -> None:
    """NOTIFY `channel` with each of `payloads`, in order, in one statement (PostgreSQL)."""
    await execute_core(session, _notify_all, {"channel": channel, "payloads": list(payloads)})


async def ping_listener(connection: asyncpg.Connection) -> None:
    """One round trip on the LISTEN connection."""
    await connection.execute(_LISTENER_PING)
