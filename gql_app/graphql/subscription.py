"""The Subscription root: live events of posts and comments (DESIGN.md contracts 1 and 12).

A subscription's set-up checks its arguments and, for a post's events, that the post
exists, so a bad or unknown id is an error before anything streams. The feed is taken
before that check: a post deleted in between still ends the subscription. Each event is
resolved with the subscriber's own viewer, in a session and loaders of its own
(`Context.begin_event`); the row itself was read once for the whole worker (fanout.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.extensions import SchemaExtension

from gql_app.core.errors import BadUserInput
from gql_app.graphql.context import Context
from gql_app.graphql.ids import decode_id_of
from gql_app.graphql.transport.fanout import COMMENTS_OF, POSTS_BY, UPDATES_OF, Feed, Topic
from gql_app.graphql.types import Comment, Info, Post
from gql_app.queries import Record

NodeT = TypeVar("NodeT")


async def _events(
    info: Info, feed: Feed, to_node: Callable[[Record], NodeT]
) -> AsyncGenerator[NodeT, None]:
    """The feed's rows as nodes. graphql-core resolves an event before it asks for the
    next, so the session renewed here is the one the previous event no longer uses; the
    resolving slot is given back once the event is resolved (`EventResolved`), before it is
    sent, so a slow client holds none."""
    context = info.context
    try:
        async for row in feed:
            await context.begin_event()
            try:
                yield to_node(row)
            finally:
                context.release_resolving()
    finally:
        feed.close()


class EventResolved(SchemaExtension):
    """Frees the resolving slot as soon as a result is complete (an event's, or that of an
    operation over a socket)."""

    def on_stream_result(self, result: Any) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.release_resolving()
        yield


async def _subscribe(
    info: Info, topic: Topic, post_id: int | None, to_node: Callable[[Record], NodeT]
) -> AsyncIterator[NodeT]:
    context = info.context
    feed = context.fanout.feed(topic)
    await context.hold_resolving()
    try:
        if post_id is not None and await context.loaders.posts[frozenset()].load(post_id) is None:
            raise BadUserInput("There is no such post.", code="NOT_FOUND")
    except BaseException:
        feed.close()
        raise
    finally:
        context.release_resolving()
    return _events(info, feed, to_node)


PostId = Annotated[strawberry.ID, strawberry.argument(description="A `Post` id.")]


@strawberry.type(description="What can be followed as it happens.")
class Subscription:
    @strawberry.subscription(
        description="Each comment added to the post, in commit order. Completes when the "
        "post is deleted. An unknown post is an error (`NOT_FOUND`) before any event."
    )
    async def comment_added(self, info: Info, post_id: PostId) -> AsyncIterator[Comment]:
        pk = decode_id_of(post_id, "Post")
        return await _subscribe(info, (COMMENTS_OF, pk), pk, Comment.from_row)

    @strawberry.subscription(description="Each new post, or each new post of one author.")
    async def post_added(
        self,
        info: Info,
        author_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only the posts of this user (a `User` id)."),
        ] = None,
    ) -> AsyncIterator[Post]:
        author = decode_id_of(author_id, "User") if author_id is not None else None
        return await _subscribe(info, (POSTS_BY, author), None, Post.from_row)

    @strawberry.subscription(
        description="The post as it is after each change to it (`updatePost`). Completes "
        "when the post is deleted. An unknown post is an error (`NOT_FOUND`) before any event."
    )
    async def post_updated(self, info: Info, post_id: PostId) -> AsyncIterator[Post]:
        pk = decode_id_of(post_id, "Post")
        return await _subscribe(info, (UPDATES_OF, pk), pk, Post.from_row)


__all__ = ["Subscription"]
