"""Events are facts that committed (DESIGN.md contract 12), on both databases: the worker's
event source (LISTEN on PostgreSQL, in-process on SQLite) sees a committed event, in commit
order, and nothing of a rolled-back one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app.core.config import Settings
from gql_app.core.events import Event, EventKind, parse_event
from gql_app.db.events import event_source
from gql_app.domain.events import publish
from tests.support.sessions import request_session


class Received:
    def __init__(self) -> None:
        self.payloads: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, payload: str) -> None:
        self.payloads.put_nowait(payload)

    async def next(self) -> str:
        return await asyncio.wait_for(self.payloads.get(), 10)


@pytest.fixture
async def received(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Received]:
    """What the event source of `engine` delivers, from the moment it listens."""
    deliveries = Received()
    source = event_source(settings, engine, deliveries)
    await source.start()
    try:
        await asyncio.wait_for(source.listening.wait(), 10)
        yield deliveries
    finally:
        await source.stop()


def comment(row_id: int) -> Event:
    return Event(EventKind.COMMENT_ADDED, post_id=1, row_id=row_id, author_id=1)


async def test_a_rolled_back_write_publishes_nothing(
    engine: AsyncEngine, received: Received
) -> None:
    session = request_session(engine)

    async def failing_write() -> None:
        async with session.transaction(write=True) as db:
            await publish(db, comment(1))
            raise RuntimeError("the write fails after publishing")

    with pytest.raises(RuntimeError):
        await failing_write()
    async with session.transaction(write=True) as db:
        await publish(db, comment(2))
    await session.close()
    assert parse_event(await received.next()) == comment(2)
    assert received.payloads.empty()


async def test_committed_events_arrive_in_commit_order(
    engine: AsyncEngine, received: Received
) -> None:
    session = request_session(engine)
    for row_id in (3, 4, 5):
        async with session.transaction(write=True) as db:
            await publish(db, comment(row_id))
    await session.close()
    assert [parse_event(await received.next()) for _ in range(3)] == [
        comment(3),
        comment(4),
        comment(5),
    ]


def test_a_payload_of_another_shape_is_not_an_event() -> None:
    assert [parse_event(p) for p in ("comment_added:1:2", "nope:1:2:3", "post_added:a:b:c")] == [
        None,
        None,
        None,
    ]
