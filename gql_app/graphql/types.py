"""The object types of the schema: `Node`, `User`, `Post`, `Comment`, and keyset connections.

Objects are built from plain rows; each relation is resolved through a DataLoader, so the
statements of a request depend on the depth of its query, not on the rows it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from gql_app import models, queries
from gql_app.graphql.context import Context
from gql_app.graphql.ids import encode_global_id
from gql_app.graphql.pagination import (
    DEFAULT_PAGE_SIZE,
    Page,
    encode_cursor,
    page_from_arguments,
    slice_rows,
)
from gql_app.graphql.permissions import only_to_themself
from gql_app.queries import Record

NodeT = TypeVar("NodeT")
Info = strawberry.Info[Context, None]

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page forward: at most this many nodes from the start (or after `after`). "
        f"At most MAX_PAGE_SIZE (100 by default); {DEFAULT_PAGE_SIZE} when neither `first` "
        "nor `last` is given. Not together with `last`."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Only nodes after this cursor (an edge's `cursor`)."),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="Page backward: at most this many nodes from the end (or before `before`). "
        "At most MAX_PAGE_SIZE (100 by default). Not together with `first`."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="Only nodes before this cursor (an edge's `cursor`)."),
]


def page_of(
    info: Info,
    keyset: queries.Keyset,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Page:
    """The page the Relay arguments of a connection field ask for, checked."""
    return page_from_arguments(
        first=first,
        after=after,
        last=last,
        before=before,
        ordering=keyset.name,
        key_types=keyset.key_types,
        max_size=info.context.settings.max_page_size,
    )


@strawberry.interface(
    description="An object with a global id: `node(id:)` fetches any of them again."
)
class Node:
    pk: strawberry.Private[int]

    @strawberry.field(
        name="id", description="The global id: opaque, stable and unique across all types."
    )
    def global_id(self) -> strawberry.ID:
        return strawberry.ID(encode_global_id(type(self).__name__, self.pk))


@strawberry.type(description="A node of a connection, with the cursor to page on from it.")
class Edge(Generic[NodeT]):
    node: NodeT = strawberry.field(description="The node.")
    row: strawberry.Private[Record]
    keyset: strawberry.Private[queries.Keyset]

    @strawberry.field(
        description="Opaque cursor of this edge: pass it as `after` or `before` to page on."
    )
    def cursor(self) -> str:
        # Computed only when asked: most queries never select a cursor.
        return encode_cursor(self.keyset.name, self.keyset.key_of(self.row))


@strawberry.type(description="Where a page lies in its connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether nodes follow this page (with `first`: exact; with `last`: true "
        "when paging from a `before` cursor)."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether nodes precede this page (with `last`: exact; with `first`: true "
        "when paging from an `after` cursor)."
    )
    first_edge: strawberry.Private[Edge[Any] | None]
    last_edge: strawberry.Private[Edge[Any] | None]

    @strawberry.field(description="The cursor of the first edge; null when the page is empty.")
    def start_cursor(self) -> str | None:
        return self.first_edge.cursor() if self.first_edge else None

    @strawberry.field(description="The cursor of the last edge; null when the page is empty.")
    def end_cursor(self) -> str | None:
        return self.last_edge.cursor() if self.last_edge else None


@strawberry.type(
    description="One page of a list, in a stable order, paged with keyset cursors (Relay)."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The nodes of the page, in order.")
    page_info: PageInfo = strawberry.field(description="Where the page lies; its end cursors.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="How many nodes the whole list holds, on all pages (one more query: ask "
        "for it only when it is shown)."
    )
    async def total_count(self) -> int:
        return await self.count()


def connection(
    rows: Sequence[Record],
    page: Page,
    keyset: queries.Keyset,
    to_node: Callable[[Record], NodeT],
    count: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """The connection of the rows a query fetched for `page` in the order of `keyset`."""
    sliced = slice_rows(rows, page)
    edges = [Edge(node=to_node(row), row=row, keyset=keyset) for row in sliced.rows]
    page_info = PageInfo(
        has_next_page=sliced.has_next,
        has_previous_page=sliced.has_previous,
        first_edge=edges[0] if edges else None,
        last_edge=edges[-1] if edges else None,
    )
    return Connection(edges=edges, page_info=page_info, count=count)


async def related(
    info: Info,
    relation: queries.Relation,
    to_node: Callable[[Record], NodeT],
    parent_id: int,
    arguments: tuple[int | None, str | None, int | None, str | None],
) -> Connection[NodeT]:
    """A nested connection: the page of one parent's rows, batched with its siblings'."""
    page = page_of(info, relation.keyset, *arguments)
    loaders = info.context.loaders
    rows = await loaders.pages[relation].load((parent_id, page))
    counts = loaders.counts[relation]
    return connection(rows, page, relation.keyset, to_node, lambda: counts.load(parent_id))


def existing(row: Record | None, what: str) -> Record:
    """A row that a foreign key guarantees, unless it was deleted while the request ran."""
    if row is None:
        raise LookupError(f"{what} vanished during the request")
    return row


@strawberry.type(description="A person with an account: author of posts and comments.")
class User(Node):
    username: str = strawberry.field(description="Unique handle, 3 to 50 characters.")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")
    email_address: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Record | models.User) -> User:
        return cls(
            pk=row.id, username=row.username, email_address=row.email, created_at=row.created_at
        )

    @strawberry.field(
        description="The email address: visible only to the user themself, null for others.",
        extensions=[only_to_themself()],
    )
    def email(self) -> str | None:
        return self.email_address

    @strawberry.field(description="The user's posts, newest first.")
    async def posts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Post]:
        return await related(
            info, queries.USER_POSTS, Post.from_row, self.pk, (first, after, last, before)
        )

    @strawberry.field(description="The user's comments on any post, newest first.")
    async def comments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Comment]:
        return await related(
            info, queries.USER_COMMENTS, Comment.from_row, self.pk, (first, after, last, before)
        )

    @strawberry.field(description="How many posts the user has written.")
    async def post_count(self, info: Info) -> int:
        return await info.context.loaders.counts[queries.USER_POSTS].load(self.pk)


@strawberry.type(description="A post: a title and a body by one author, with comments.")
class Post(Node):
    title: str = strawberry.field(description="The title, 1 to 200 characters.")
    body: str = strawberry.field(description="The text, 1 to 10,000 characters.")
    created_at: datetime = strawberry.field(description="When the post was written (UTC).")
    updated_at: datetime = strawberry.field(
        description="When the post was last changed (UTC); its creation time if never."
    )
    author_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Record) -> Post:
        return cls(
            pk=row.id,
            author_id=row.author_id,
            title=row.title,
            body=row.body,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Who wrote the post.")
    async def author(self, info: Info) -> User:
        row = await info.context.loaders.user.load(self.author_id)
        return User.from_row(existing(row, "author"))

    @strawberry.field(description="The comments on the post, oldest first.")
    async def comments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Comment]:
        return await related(
            info, queries.POST_COMMENTS, Comment.from_row, self.pk, (first, after, last, before)
        )

    @strawberry.field(description="How many comments the post has.")
    async def comment_count(self, info: Info) -> int:
        return await info.context.loaders.counts[queries.POST_COMMENTS].load(self.pk)


@strawberry.type(description="A comment: a short text by one user on one post.")
class Comment(Node):
    body: str = strawberry.field(description="The text, 1 to 10,000 characters.")
    created_at: datetime = strawberry.field(description="When the comment was written (UTC).")
    author_id: strawberry.Private[int]
    post_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Record) -> Comment:
        return cls(
            pk=row.id,
            author_id=row.author_id,
            post_id=row.post_id,
            body=row.body,
            created_at=row.created_at,
        )

    @strawberry.field(description="Who wrote the comment.")
    async def author(self, info: Info) -> User:
        row = await info.context.loaders.user.load(self.author_id)
        return User.from_row(existing(row, "author"))

    @strawberry.field(description="The post the comment is on.")
    async def post(self, info: Info) -> Post:
        row = await info.context.loaders.post.load(self.post_id)
        return Post.from_row(existing(row, "post"))
