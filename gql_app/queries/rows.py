"""The rows the GraphQL API reads (users, posts, comments) and their lookups by id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    select,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from gql_app.db import Reads, one_of
from gql_app.db.models import Comment, Post, User

# The columns of every user, post and comment row the queries return, in this order:
# callers may unpack rows (reading a row's column by name costs ~0.3 µs, by position ~0.02).
USER_ROW = (User.id, User.username, User.email, User.created_at)


POST_ROW = (Post.id, Post.author_id, Post.title, Post.body, Post.created_at, Post.updated_at)


COMMENT_ROW = (Comment.id, Comment.post_id, Comment.author_id, Comment.body, Comment.created_at)


# A row: SQLAlchemy's, or the driver's (`db.Reads`); both are read by position or attribute.
Record = Sequence[Any]


AnySelect = Select[*tuple[Any, ...]]


# What a read runs on: a unit of work's session, or a read unit's (`RequestSession.read`,
# what the DataLoaders use).
Reader = AsyncSession | Reads


def user_record(user: User) -> Record:
    """A loaded user as the row of `USER_ROW` its lookup by id returns."""
    return tuple(getattr(user, column.key) for column in USER_ROW)


async def execute_core(
    session: AsyncSession, statement: Executable, values: Mapping[str, Any]
) -> Result[Any]:
    """`statement`, which names no entity, on the unit of work's connection: the same
    statement as through the ORM session, at about a tenth fewer Python calls per write
    (bench/RESULTS.md, "Writes on the fast path")."""
    connection = await session.connection()
    return await connection.execute(statement, values)


_users_by_ids = select(*USER_ROW).where(one_of(User.id, "ids"))


_posts_by_ids = select(*POST_ROW).where(one_of(Post.id, "ids"))


_comments_by_ids = select(*COMMENT_ROW).where(one_of(Comment.id, "ids"))


async def _rows_by_id(
    session: Reader, statement: AnySelect, ids: Sequence[int]
) -> dict[int, Record]:
    return {row[0]: row for row in await session.execute(statement, {"ids": list(ids)})}


async def users_by_ids(session: Reader, ids: Sequence[int]) -> dict[int, Record]:
    return await _rows_by_id(session, _users_by_ids, ids)


async def posts_by_ids(session: Reader, ids: Sequence[int]) -> dict[int, Record]:
    return await _rows_by_id(session, _posts_by_ids, ids)


async def comments_by_ids(session: Reader, ids: Sequence[int]) -> dict[int, Record]:
    return await _rows_by_id(session, _comments_by_ids, ids)
