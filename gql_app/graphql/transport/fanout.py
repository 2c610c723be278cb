"""Fan-out: the worker's events routed to its subscriptions (DESIGN.md contract 12).

One source per worker (`db.events.event_source`: the LISTEN connection on PostgreSQL, the
in-process form on SQLite) hands each committed event's payload to `Fanout`, which routes
the events one at a time, in commit order. An event names rows by id: the row is read once
per worker (not per subscriber), in a session of its own closed at once, and only if some
local subscription wants it. Each subscription has a bounded `Feed`; one that falls
`SUBSCRIPTION_QUEUE_SIZE` events behind is dropped (`SubscriberFellBehind`), so a slow
client holds no more than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import Scope

from gql_app import queries
from gql_app.core.config import Settings
from gql_app.core.errors import PublicError
from gql_app.core.events import Event, EventKind, parse_event
from gql_app.core.observability import count_events_dropped
from gql_app.core.slots import Slots
from gql_app.db import RequestSession
from gql_app.db.events import event_source
from gql_app.queries import Record

logger = logging.getLogger(__name__)

# What a feed follows: (kind of row, the post or author it is about, or None for all).
Topic = tuple[str, int | None]
COMMENTS_OF: Final = "comments"
UPDATES_OF: Final = "updates"
POSTS_BY: Final = "posts"


class SubscriberFellBehind(PublicError):
    """The client did not take its events as fast as they came."""

    code = "SUBSCRIBER_FELL_BEHIND"


class Feed:
    """One subscription's events: at most `size` waiting, ended when its post is deleted."""

    def __init__(self, fanout: Fanout, topic: Topic, size: int) -> None:
        self._fanout = fanout
        self.topic = topic
        self._size = size
        self._rows: deque[Record] = deque()
        self._ended = False
        self._behind = False
        self._ready = asyncio.Event()

    def offer(self, row: Record) -> None:
        if self._ended or self._behind:
            return
        if len(self._rows) >= self._size:
            self._behind = True
            count_events_dropped(len(self._rows) + 1)
            self._rows.clear()
            self.close()
        else:
            self._rows.append(row)
        self._ready.set()

    def end(self) -> None:
        """No more events will come (the post was deleted, the worker stops)."""
        self._ended = True
        self.close()
        self._ready.set()

    def close(self) -> None:
        self._fanout.forget(self)

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Record:
        while not self._rows:
            if self._behind:
                raise SubscriberFellBehind(
                    "The subscription fell more than SUBSCRIPTION_QUEUE_SIZE events behind."
                )
            if self._ended:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._rows.popleft()


class Fanout:
    """The worker's subscriptions by topic, fed from its one event source."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.feed_size = settings.subscription_queue_size  # events a feed holds at most
        # The worker's event resolutions at once (SUBSCRIPTION_CONCURRENCY): a thousand
        # subscribers of one post must not ask the pool for a thousand connections.
        self.resolving = Slots(settings.subscription_concurrency)
        self._sessionmaker = sessionmaker
        self.source = event_source(settings, engine, self._received)
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._feeds: dict[Topic, set[Feed]] = {}
        self._router: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._router = asyncio.get_running_loop().create_task(self._route())
        await self.source.start()

    async def stop(self) -> None:
        await self.source.stop()
        if self._router is not None:
            self._router.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._router
        for feeds in list(self._feeds.values()):
            for feed in list(feeds):
                feed.end()

    def feed(self, topic: Topic) -> Feed:
        """A new subscription's feed of `topic`."""
        feed = Feed(self, topic, self.feed_size)
        self._feeds.setdefault(topic, set()).add(feed)
        return feed

    def forget(self, feed: Feed) -> None:
        feeds = self._feeds.get(feed.topic)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.topic]

    @property
    def subscriptions(self) -> int:
        return sum(len(feeds) for feeds in self._feeds.values())

    def _received(self, payload: str) -> None:
        event = parse_event(payload)
        if event is None:
            logger.warning("event listener: dropped a payload it cannot read")
            return
        self._inbox.put_nowait(event)

    async def _route(self) -> None:
        while True:
            event = await self._inbox.get()
            try:
                await self._dispatch(event)
            except Exception:
                logger.exception("fan-out: an event could not be delivered")

    def _subscribed(self, topics: tuple[Topic, ...]) -> list[Feed]:
        return [feed for topic in topics for feed in self._feeds.get(topic, ())]

    async def _dispatch(self, event: Event) -> None:
        if event.kind is EventKind.POST_DELETED:
            for feed in self._subscribed(
                ((COMMENTS_OF, event.post_id), (UPDATES_OF, event.post_id))
            ):
                feed.end()
            return
        if event.kind is EventKind.COMMENT_ADDED:
            topics: tuple[Topic, ...] = ((COMMENTS_OF, event.post_id),)
        elif event.kind is EventKind.POST_UPDATED:
            topics = ((UPDATES_OF, event.post_id),)
        else:
            topics = ((POSTS_BY, None), (POSTS_BY, event.author_id))
        feeds = self._subscribed(topics)
        if not feeds:
            return
        row = await self._row(event)
        if row is None:  # deleted since: its deletion is an event of its own
            return
        for feed in feeds:
            feed.offer(row)

    async def _row(self, event: Event) -> Record | None:
        """The event's row as it is now, read once in a session closed at once."""
        comment = event.kind is EventKind.COMMENT_ADDED
        by_ids = queries.comments_by_ids if comment else queries.posts_by_ids
        session = RequestSession(self._sessionmaker)
        try:
            rows = await session.read(lambda reads: by_ids(reads, [event.row_id]))
        finally:
            await session.close()
        return rows.get(event.row_id)


def fanout_of(scope: Scope) -> Fanout:
    """The fan-out of the app that `scope` belongs to (made at start-up)."""
    fanout = scope["app"].state.fanout
    if not isinstance(fanout, Fanout):
        raise TypeError("the app has no fan-out: it has not started")
    return fanout
