"""The rows the GraphQL API reads (users, posts, comments) and their lookups by id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    null,
    select,
    type_coerce,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import Executable

from gql_app.db import Reads, by_position, one_of
from gql_app.db.models import Comment, Post, User

# The columns of every user, post and comment row the queries return, in this order:
# callers may unpack rows (reading a row's column by name costs ~0.3 µs, by position ~0.02).
USER_ROW = (User.id, User.username, User.email, User.created_at)


POST_ROW = (Post.id, Post.author_id, Post.title, Post.body, Post.created_at, Post.updated_at)


COMMENT_ROW = (Comment.id, Comment.post_id, Comment.author_id, Comment.body, Comment.created_at)


# A row: SQLAlchemy's, or the driver's (`db.Reads`). The rows of USER_ROW, POST_ROW and
# COMMENT_ROW that the API reads are read by position only: on the driver they are plain
# tuples (`db.by_position`), which the garbage collector stops tracking.
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


# Columns a statement reads only when the query selects their field (`projected`): the
# others a row always holds (ids, foreign keys, every keyset's key, short titles). Each is
# NOT NULL in the schema, so a NULL in a row read with projection means "not read".
OPTIONAL_COLUMNS = frozenset(("body", "updated_at", "email"))


# Which optional columns a statement reads: a set of `OPTIONAL_COLUMNS` names, or None: all.
Columns = frozenset[str] | None


RowColumns = tuple[InstrumentedAttribute[Any], ...]


def optional_of(row: RowColumns) -> frozenset[str]:
    """The `OPTIONAL_COLUMNS` that rows of `row`'s columns have."""
    return frozenset(column.key for column in row) & OPTIONAL_COLUMNS


def projected(column: InstrumentedAttribute[Any], columns: Columns) -> Any:
    """`column`, or a typed NULL in its place (same label and position) when not wanted."""
    if columns is None or column.key not in OPTIONAL_COLUMNS or column.key in columns:
        return column
    return type_coerce(null(), column.type).label(column.key)


@cache
def _by_ids_statement(row: RowColumns, columns: Columns) -> AnySelect:
    return select(*(projected(column, columns) for column in row)).where(one_of(row[0], "ids"))


async def _rows_by_id(
    session: Reader, row: RowColumns, ids: Sequence[int], columns: Columns
) -> dict[int, Record]:
    result = await session.execute(_by_ids_statement(row, columns), {"ids": list(ids)})
    return {found[0]: found for found in by_position(result)}


# The lookups by id: `columns`, the optional columns to read (None: all; the others are NULL).


async def users_by_ids(
    session: Reader, ids: Sequence[int], columns: Columns = None
) -> dict[int, Record]:
    return await _rows_by_id(session, USER_ROW, ids, columns)


async def posts_by_ids(
    session: Reader, ids: Sequence[int], columns: Columns = None
) -> dict[int, Record]:
    return await _rows_by_id(session, POST_ROW, ids, columns)


async def comments_by_ids(
    session: Reader, ids: Sequence[int], columns: Columns = None
) -> dict[int, Record]:
    return await _rows_by_id(session, COMMENT_ROW, ids, columns)
