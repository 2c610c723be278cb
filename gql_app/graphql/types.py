"""The object types of the schema: `Node`, `User`, `Post`, `Comment`, and keyset connections.

Objects are built from plain rows; each relation is resolved through a DataLoader, so the
statements of a request depend on the depth of its query, not on the rows it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from gql_app import queries
from gql_app.core.paging import DEFAULT_PAGE_SIZE, Page, slice_rows
from gql_app.db import models
from gql_app.graphql.context import Context
from gql_app.graphql.execution.marker import batched
from gql_app.graphql.ids import encode_global_id
from gql_app.graphql.pagination import encode_cursor, page_from_arguments
from gql_app.graphql.permissions import only_to_themself
from gql_app.graphql.projection import UNFETCHED, node_columns, object_columns
from gql_app.loading.dataloader import DataLoader
from gql_app.queries import Record

NodeT = TypeVar("NodeT")
T = TypeVar("T")
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


# Relation fields come in two forms: the resolver, for one object, and its batch form (see
# `batched`), for all the objects of one depth of a compiled plan; the resolver calls the
# batch form with its one object. A batch form returns one value or exception per object.


def only(values: Sequence[T | Exception]) -> T:
    """The value a batch form returned for its one object, or the error, raised."""
    (value,) = values
    if isinstance(value, Exception):
        raise value
    return value


async def related(
    info: Info,
    relation: queries.Relation,
    to_node: Callable[[Record], NodeT],
    parents: Sequence[Node],
    arguments: tuple[int | None, str | None, int | None, str | None],
) -> list[Connection[NodeT] | Exception]:
    """Nested connections: the same page of each parent's rows, in one batch, reading the
    optional columns the nodes select (`node_columns`)."""
    page = page_of(info, relation.keyset, *arguments)
    loaders = info.context.loaders
    pages = await loaders.pages[relation, node_columns(info)].load_many(
        [(parent.pk, page) for parent in parents]
    )
    counts = loaders.counts[relation]
    return [
        rows
        if isinstance(rows, Exception)
        else connection(rows, page, relation.keyset, to_node, partial(counts.load, parent.pk))
        for parent, rows in zip(parents, pages, strict=True)
    ]


async def rows_of(
    loader: DataLoader[int, Record | None],
    ids: list[int],
    to_object: Callable[[Record], T],
    what: str,
) -> list[T | Exception]:
    """The objects of rows that foreign keys guarantee, unless deleted while the request ran.

    Objects of the same id are one object (many comments share an author).
    """
    made: dict[int, T] = {}
    objects: list[T | Exception] = []
    rows = await loader.load_many(ids)
    for pk, row in zip(ids, rows, strict=True):
        if isinstance(row, Exception):
            objects.append(row)
        elif row is None:
            objects.append(LookupError(f"{what} vanished during the request"))
        else:
            made_object = made.get(pk)
            if made_object is None:
                made_object = made[pk] = to_object(row)
            objects.append(made_object)
    return objects


async def counts_of(
    info: Info, relation: queries.Relation, parents: Sequence[Node]
) -> list[int | Exception]:
    """How many related rows each parent has, in one batch."""
    return await info.context.loaders.counts[relation].load_many([p.pk for p in parents])


async def authors_of(
    objects: Sequence[Post] | Sequence[Comment], info: Info
) -> list[User | Exception]:
    """The batch form of `Post.author` and `Comment.author`."""
    ids = [item.author_id for item in objects]
    loader = info.context.loaders.users[object_columns(info)]
    return await rows_of(loader, ids, User.from_row, "author")


def related_batch(
    relation: queries.Relation, to_node: Callable[[Record], NodeT]
) -> Callable[..., Awaitable[list[Connection[NodeT] | Exception]]]:
    """The batch form of a nested connection field: `relation`'s rows as `to_node`."""

    async def batch(
        parents: Sequence[Node],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> list[Connection[NodeT] | Exception]:
        return await related(info, relation, to_node, parents, (first, after, last, before))

    return batch


# The nodes' classes are defined below: their rows become nodes when a batch runs.
posts_of_users = related_batch(queries.USER_POSTS, lambda row: Post.from_row(row))
comments_of_users = related_batch(queries.USER_COMMENTS, lambda row: Comment.from_row(row))
comments_of_posts = related_batch(queries.POST_COMMENTS, lambda row: Comment.from_row(row))


async def post_counts(users: Sequence[User], info: Info) -> list[int | Exception]:
    """The batch form of `User.postCount`."""
    return await counts_of(info, queries.USER_POSTS, users)


async def comment_counts(posts: Sequence[Post], info: Info) -> list[int | Exception]:
    """The batch form of `Post.commentCount`."""
    return await counts_of(info, queries.POST_COMMENTS, posts)


async def posts_of_comments(comments: Sequence[Comment], info: Info) -> list[Post | Exception]:
    """The batch form of `Comment.post`."""
    ids = [comment.post_id for comment in comments]
    loader = info.context.loaders.posts[object_columns(info)]
    return await rows_of(loader, ids, Post.from_row, "post")


@strawberry.type(description="A person with an account: author of posts and comments.")
class User(Node):
    username: str = strawberry.field(description="Unique handle, 3 to 50 characters.")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")
    email_address: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Record | models.User) -> User:
        """The user of a `queries.USER_ROW` row (its email possibly not read: NULL) or of a
        loaded model."""
        if isinstance(row, models.User):
            pk, username, email, created_at = row.id, row.username, row.email, row.created_at
        else:
            pk, username, email, created_at = row
        return cls(
            pk=pk,
            username=username,
            email_address=UNFETCHED if email is None else email,
            created_at=created_at,
        )

    @strawberry.field(
        description="The email address: visible only to the user themself, null for others.",
        extensions=[only_to_themself()],
    )
    def email(self) -> str | None:
        return self.email_address

    @strawberry.field(
        description="The user's posts, newest first.", metadata=batched(posts_of_users)
    )
    async def posts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Post]:
        return only(await posts_of_users([self], info, first, after, last, before))

    @strawberry.field(
        description="The user's comments on any post, newest first.",
        metadata=batched(comments_of_users),
    )
    async def comments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Comment]:
        return only(await comments_of_users([self], info, first, after, last, before))

    @strawberry.field(
        description="How many posts the user has written.", metadata=batched(post_counts)
    )
    async def post_count(self, info: Info) -> int:
        return only(await post_counts([self], info))


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
        """The post of a `queries.POST_ROW` row (its optional columns possibly not read)."""
        pk, author_id, title, body, created_at, updated_at = row
        return cls(
            pk=pk,
            author_id=author_id,
            title=title,
            body=UNFETCHED if body is None else body,
            created_at=created_at,
            updated_at=UNFETCHED if updated_at is None else updated_at,
        )

    @strawberry.field(description="Who wrote the post.", metadata=batched(authors_of))
    async def author(self, info: Info) -> User:
        return only(await authors_of([self], info))

    @strawberry.field(
        description="The comments on the post, oldest first.",
        metadata=batched(comments_of_posts),
    )
    async def comments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Comment]:
        return only(await comments_of_posts([self], info, first, after, last, before))

    @strawberry.field(
        description="How many comments the post has.", metadata=batched(comment_counts)
    )
    async def comment_count(self, info: Info) -> int:
        return only(await comment_counts([self], info))


@strawberry.type(description="A comment: a short text by one user on one post.")
class Comment(Node):
    body: str = strawberry.field(description="The text, 1 to 10,000 characters.")
    created_at: datetime = strawberry.field(description="When the comment was written (UTC).")
    author_id: strawberry.Private[int]
    post_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Record) -> Comment:
        """The comment of a `queries.COMMENT_ROW` row (its body possibly not read)."""
        pk, post_id, author_id, body, created_at = row
        return cls(
            pk=pk,
            author_id=author_id,
            post_id=post_id,
            body=UNFETCHED if body is None else body,
            created_at=created_at,
        )

    @strawberry.field(description="Who wrote the comment.", metadata=batched(authors_of))
    async def author(self, info: Info) -> User:
        return only(await authors_of([self], info))

    @strawberry.field(
        description="The post the comment is on.", metadata=batched(posts_of_comments)
    )
    async def post(self, info: Info) -> Post:
        return only(await posts_of_comments([self], info))
