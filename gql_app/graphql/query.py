"""The Query root: the viewer, lookups by id or username, the user and post lists, `node`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Annotated, Any

import strawberry

from gql_app import queries
from gql_app.core.errors import BadUserInput
from gql_app.db import models
from gql_app.domain.input import holds_nul
from gql_app.graphql.ids import decode_global_id, decode_id_of
from gql_app.graphql.projection import node_columns, object_columns
from gql_app.graphql.types import (
    After,
    Before,
    Comment,
    Connection,
    First,
    Info,
    Last,
    Node,
    NodeT,
    Post,
    User,
    connection,
    page_of,
)
from gql_app.loading.dataloader import DataLoader
from gql_app.queries import Record

MAX_FILTER_LENGTH = 200


@strawberry.enum(description="Orders of the user list.")
class UserOrder(Enum):
    USERNAME = strawberry.enum_value("username", description="By username, A to Z.")
    NEWEST = strawberry.enum_value("newest", description="Newest accounts first.")
    OLDEST = strawberry.enum_value("oldest", description="Oldest accounts first.")


@strawberry.enum(description="Orders of the post list.")
class PostOrder(Enum):
    NEWEST = strawberry.enum_value("newest", description="Newest posts first.")
    OLDEST = strawberry.enum_value("oldest", description="Oldest posts first.")


USER_KEYSETS = {
    UserOrder.USERNAME: queries.USERS_BY_USERNAME,
    UserOrder.NEWEST: queries.USERS_NEWEST,
    UserOrder.OLDEST: queries.USERS_OLDEST,
}
POST_KEYSETS = {PostOrder.NEWEST: queries.POSTS_NEWEST, PostOrder.OLDEST: queries.POSTS_OLDEST}


@strawberry.input(description="Which users to list; every given condition must hold.")
class UserFilter:
    username_contains: str | None = strawberry.field(
        default=None,
        description="Only users whose username contains this text, ignoring case (`%` and "
        "`_` are plain characters). At most 200 characters.",
    )


@strawberry.input(description="Which posts to list; every given condition must hold.")
class PostFilter:
    author_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the posts of this user (a `User` id)."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Only posts whose title or body contains this text, ignoring case (`%` "
        "and `_` are plain characters). At most 200 characters.",
    )


def _contains_pattern(argument: str, text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise BadUserInput(f"`{argument}` must be at most {MAX_FILTER_LENGTH} characters")
    if holds_nul(text):  # the driver would fail, not match
        raise BadUserInput(f"`{argument}` must not contain NUL characters")
    return queries.contains_pattern(text)


async def _list(
    info: Info,
    keyset: queries.Keyset,
    table: type[models.Base],
    arguments: tuple[int | None, str | None, int | None, str | None],
    to_node: Callable[[Record], NodeT],
    **filters: Any,
) -> Connection[NodeT]:
    """A root connection: one statement for the page, one more for `totalCount` if asked."""
    page = page_of(info, keyset, *arguments)
    db = info.context.db
    columns = node_columns(info)
    rows = await db.read(lambda reader: queries.page_of(reader, keyset, page, columns, **filters))

    async def count() -> int:
        return await db.read(lambda reader: queries.count_of(reader, table, **filters))

    return connection(rows, page, keyset, to_node, count)


NodeLoaders = Callable[[Info], Mapping[queries.Columns, DataLoader[int, Record | None]]]
NODE_TYPES: dict[str, tuple[NodeLoaders, Callable[[Record], Node]]] = {
    "User": (lambda info: info.context.loaders.users, User.from_row),
    "Post": (lambda info: info.context.loaders.posts, Post.from_row),
    "Comment": (lambda info: info.context.loaders.comments, Comment.from_row),
}


async def _node_of(row: Awaitable[Record | None], to_node: Callable[[Record], Node]) -> Node | None:
    found = await row
    return to_node(found) if found is not None else None


def _load_node(info: Info, global_id: str) -> Awaitable[Node | None]:
    """Start loading the node of `global_id` (siblings batch); await the result."""
    type_name, pk = decode_global_id(global_id)
    if type_name not in NODE_TYPES:
        raise BadUserInput(f"invalid id {global_id[:40]!r}: no such type")
    loaders, to_node = NODE_TYPES[type_name]
    return _node_of(loaders(info)[object_columns(info)].load(pk), to_node)


@strawberry.type(description="What can be read.")
class Query:
    @strawberry.field(description="The authenticated user; null without a valid token.")
    async def me(self, info: Info) -> User | None:
        viewer = await info.context.viewer()
        return User.from_row(viewer) if viewer is not None else None

    @strawberry.field(description="A user by id; null if there is none.")
    async def user(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A `User` id.")],
    ) -> User | None:
        loader = info.context.loaders.users[object_columns(info)]
        row = await loader.load(decode_id_of(id, "User"))
        return User.from_row(row) if row is not None else None

    @strawberry.field(description="A user by exact username; null if there is none.")
    async def user_by_username(
        self,
        info: Info,
        username: Annotated[str, strawberry.argument(description="The username, exactly.")],
    ) -> User | None:
        if holds_nul(username):
            return None
        async with info.context.db.transaction() as session:
            found = await queries.user_by_username(session, username)
        return User.from_row(found) if found is not None else None

    @strawberry.field(description="All users, or those the filter selects, a page at a time.")
    async def users(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            UserFilter | None, strawberry.argument(description="Which users to list.")
        ] = None,
        order_by: Annotated[
            UserOrder, strawberry.argument(description="The order of the list.")
        ] = UserOrder.USERNAME,
    ) -> Connection[User]:
        pattern = _contains_pattern(
            "usernameContains", filter.username_contains if filter else None
        )
        return await _list(
            info,
            USER_KEYSETS[order_by],
            models.User,
            (first, after, last, before),
            User.from_row,
            username_contains=pattern,
        )

    @strawberry.field(description="A post by id; null if there is none.")
    async def post(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A `Post` id.")],
    ) -> Post | None:
        loader = info.context.loaders.posts[object_columns(info)]
        row = await loader.load(decode_id_of(id, "Post"))
        return Post.from_row(row) if row is not None else None

    @strawberry.field(description="All posts, or those the filter selects, a page at a time.")
    async def posts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            PostFilter | None, strawberry.argument(description="Which posts to list.")
        ] = None,
        order_by: Annotated[
            PostOrder, strawberry.argument(description="The order of the list.")
        ] = PostOrder.NEWEST,
    ) -> Connection[Post]:
        author = filter.author_id if filter else None
        return await _list(
            info,
            POST_KEYSETS[order_by],
            models.Post,
            (first, after, last, before),
            Post.from_row,
            author_id=decode_id_of(author, "User") if author is not None else None,
            search=_contains_pattern("search", filter.search if filter else None),
        )

    @strawberry.field(description="Any object by its global id; null if there is none.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return await _load_node(info, id)

    @strawberry.field(
        description="Objects by global id, in the order given (null for each that is "
        "missing); at most MAX_PAGE_SIZE ids (100 by default)."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")],
    ) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise BadUserInput(f"`ids` takes at most {limit} ids (got {len(ids)})")
        loads = [_load_node(info, global_id) for global_id in ids]
        return [await load for load in loads]
