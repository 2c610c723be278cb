"""Publishing events: inside the writing transaction, so only a commit publishes (contract 12)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import queries
from gql_app.core.events import CHANNEL, Event
from gql_app.db.events import notifies_in_process, publish_on_commit


def notifies_in_statement(session: AsyncSession) -> bool:
    """Whether the session's content writes NOTIFY their event in their own statement (their
    `notify=True`, on PostgreSQL: one round trip fewer); otherwise the writer `publish`es it."""
    return not notifies_in_process(session)


async def publish(session: AsyncSession, event: Event) -> None:
    """Publish `event` when the session's transaction commits; a rollback publishes nothing."""
    if notifies_in_process(session):
        publish_on_commit(session, event.payload())
    else:
        await queries.notify(session, CHANNEL, event.payload())


async def publish_all(session: AsyncSession, events: Sequence[Event]) -> None:
    """`publish` each of `events`, in order (on PostgreSQL in one statement)."""
    if not events:
        return
    if notifies_in_process(session):
        for event in events:
            publish_on_commit(session, event.payload())
    else:
        await queries.notify_all(session, CHANNEL, [event.payload() for event in events])
