"""The worker's fan-out, on both databases: one read of an event's row for all its
subscribers, a deleted post ends its feeds, and a feed that falls behind is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_app.core.config import Settings
from gql_app.core.events import Event, EventKind
from gql_app.db import create_sessionmaker
from gql_app.domain.events import publish
from gql_app.graphql.ids import decode_id_of, encode_global_id
from gql_app.graphql.transport.fanout import COMMENTS_OF, Fanout, SubscriberFellBehind
from tests.support.app import MakeComment, MakePost, MakeUser
from tests.support.sessions import request_session

WAIT_SECONDS = 10


@pytest.fixture
async def fanout(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Fanout]:
    running = Fanout(settings, engine, create_sessionmaker(engine))
    await running.start()
    try:
        await asyncio.wait_for(running.source.listening.wait(), WAIT_SECONDS)
        yield running
    finally:
        await running.stop()


async def published(engine: AsyncEngine, event: Event) -> None:
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            await publish(db, event)
    finally:
        await session.close()


async def test_an_events_row_is_read_once_for_all_its_subscribers(
    fanout: Fanout,
    engine: AsyncEngine,
    make_user: MakeUser,
    make_post: MakePost,
    make_comment: MakeComment,
) -> None:
    author = await make_user("fanned")
    post = decode_id_of(await make_post(author), "Post")
    comment = decode_id_of(await make_comment(author, encode_global_id("Post", post)), "Comment")
    feeds = [fanout.feed((COMMENTS_OF, post)) for _ in range(3)]
    await published(engine, Event(EventKind.COMMENT_ADDED, post, comment, author.pk))
    rows = [await asyncio.wait_for(anext(feed), WAIT_SECONDS) for feed in feeds]
    assert rows[0][0] == comment
    assert all(row is rows[0] for row in rows)


async def test_deleting_a_post_ends_its_feeds(fanout: Fanout, engine: AsyncEngine) -> None:
    feed = fanout.feed((COMMENTS_OF, 7))
    await published(engine, Event(EventKind.POST_DELETED, 7, 7, 1))
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(feed), WAIT_SECONDS)
    assert fanout.subscriptions == 0


@pytest.mark.usefixtures("metrics_on")
async def test_the_events_of_a_feed_that_fell_behind_are_counted_as_dropped(
    fanout: Fanout,
) -> None:
    dropped = "gql_app_subscription_events_dropped_total"
    before = REGISTRY.get_sample_value(dropped) or 0
    feed = fanout.feed((COMMENTS_OF, 9))
    for row_id in range(fanout.feed_size + 1):
        feed.offer((row_id,))
    feed.offer((fanout.feed_size + 1,))  # after it fell behind: no longer fed
    assert REGISTRY.get_sample_value(dropped) == before + fanout.feed_size + 1


async def test_a_feed_past_its_queue_size_is_dropped_and_says_so(fanout: Fanout) -> None:
    feed = fanout.feed((COMMENTS_OF, 8))
    for row_id in range(fanout.feed_size + 1):
        feed.offer((row_id,))
    with pytest.raises(SubscriberFellBehind):
        await anext(feed)
    assert fanout.subscriptions == 0
