"""Keyset pages: orderings, filters, pages of a table or of many parents at once, and counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    bindparam,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from gql_app.core.paging import Page
from gql_app.db import by_position, one_of
from gql_app.db.models import Base, Comment, Post, User
from gql_app.queries.rows import (
    COMMENT_ROW,
    POST_ROW,
    USER_ROW,
    AnySelect,
    Columns,
    Reader,
    Record,
    projected,
)


@dataclass(frozen=True, slots=True, eq=False)
class Keyset:
    """A total order of a table's rows by a unique sort key, for keyset pagination.

    `name` goes into cursors, so a cursor of one order is refused by another. Compared by
    identity: the statements built for each are cached.
    """

    name: str
    key: tuple[InstrumentedAttribute[Any], ...]
    descending: bool
    row: tuple[InstrumentedAttribute[Any], ...]
    # Read once: a column type's `python_type` costs microseconds, and every edge of every
    # page asks for its row's key, every connection for the types.
    key_positions: tuple[int, ...] = field(init=False)  # where the key is in a row
    key_types: tuple[type, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_positions", tuple(map(self.row.index, self.key)))
        object.__setattr__(self, "key_types", tuple(column.type.python_type for column in self.key))

    def key_of(self, row: Record) -> tuple[Any, ...]:
        return tuple([row[position] for position in self.key_positions])


USERS_BY_USERNAME = Keyset("users:username", (User.username, User.id), False, USER_ROW)


USERS_NEWEST = Keyset("users:newest", (User.created_at, User.id), True, USER_ROW)


USERS_OLDEST = Keyset("users:oldest", (User.created_at, User.id), False, USER_ROW)


POSTS_NEWEST = Keyset("posts:newest", (Post.created_at, Post.id), True, POST_ROW)


POSTS_OLDEST = Keyset("posts:oldest", (Post.created_at, Post.id), False, POST_ROW)


COMMENTS_NEWEST = Keyset("comments:newest", (Comment.created_at, Comment.id), True, COMMENT_ROW)


COMMENTS_OLDEST = Keyset("comments:oldest", (Comment.created_at, Comment.id), False, COMMENT_ROW)


@dataclass(frozen=True, slots=True, eq=False)
class Relation:
    """The rows of a table that belong to a parent row, in the order of a keyset."""

    keyset: Keyset
    parent: InstrumentedAttribute[int]
    parent_index: int = field(init=False)  # where the parent's id is in a row

    def __post_init__(self) -> None:
        object.__setattr__(self, "parent_index", self.keyset.row.index(self.parent))


USER_POSTS = Relation(POSTS_NEWEST, Post.author_id)


USER_COMMENTS = Relation(COMMENTS_NEWEST, Comment.author_id)


POST_COMMENTS = Relation(COMMENTS_OLDEST, Comment.post_id)


RELATIONS = (USER_POSTS, USER_COMMENTS, POST_COMMENTS)


LIKE_ESCAPE = "\\"


def contains_pattern(text_: str) -> str:
    """A LIKE pattern matching `text_` anywhere, its `%`, `_` and `\\` taken literally."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text_ = text_.replace(char, LIKE_ESCAPE + char)
    return f"%{text_}%"


def _contains(column: InstrumentedAttribute[str], parameter: str) -> ColumnElement[bool]:
    """Case-insensitive (ASCII only on SQLite) containment of a bound pattern."""
    return func.lower(column).like(func.lower(bindparam(parameter)), escape=LIKE_ESCAPE)


# Filters by name: a query's statement includes those given a value, bound by that name.
_FILTERS: dict[str, ColumnElement[bool]] = {
    "username_contains": _contains(User.username, "username_contains"),
    "author_id": Post.author_id == bindparam("author_id"),
    "search": or_(_contains(Post.title, "search"), _contains(Post.body, "search")),
}


@dataclass(frozen=True, slots=True)
class PageShape:
    """What decides a page statement's SQL: which cursors bound it and which way it runs."""

    has_after: bool
    has_before: bool
    backward: bool

    @classmethod
    def of(cls, page: Page) -> PageShape:
        return cls(page.after is not None, page.before is not None, page.backward)


def _page_parameters(page: Page) -> dict[str, Any]:
    """The bound values of a page statement: one row more than asked, to see if more follow."""
    parameters: dict[str, Any] = {"limit": page.limit + 1}
    for prefix, key in (("after", page.after), ("before", page.before)):
        if key is not None:
            parameters |= {f"{prefix}_{i}": value for i, value in enumerate(key)}
    return parameters


def _keyset_clauses(
    keyset: Keyset, shape: PageShape
) -> tuple[list[ColumnElement[bool]], list[UnaryExpression[Any]]]:
    """The conditions of the cursors and the ORDER BY of the rows to fetch.

    Row values compare the whole key at once (`(created_at, id) < (:after_0, :after_1)`),
    which both dialects evaluate and PostgreSQL serves from the composite index. Backward
    pages fetch in reverse order; `slice_rows` turns them round.
    """
    key = tuple_(*keyset.key)
    conditions: list[ColumnElement[bool]] = []
    for prefix, present, later in (
        ("after", shape.has_after, True),
        ("before", shape.has_before, False),
    ):
        if present:
            bound = tuple_(
                *(bindparam(f"{prefix}_{i}", type_=c.type) for i, c in enumerate(keyset.key))
            )
            conditions.append(key > bound if later != keyset.descending else key < bound)
    descending = keyset.descending != shape.backward
    order = [column.desc() if descending else column.asc() for column in keyset.key]
    return conditions, order


@cache
def _page_statement(
    keyset: Keyset, shape: PageShape, filters: tuple[str, ...], columns: Columns
) -> AnySelect:
    conditions, order = _keyset_clauses(keyset, shape)
    return (
        select(*(projected(column, columns) for column in keyset.row))
        .where(*(_FILTERS[name] for name in filters), *conditions)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def _count_statement(table: type[Base], filters: tuple[str, ...]) -> AnySelect:
    return select(func.count()).select_from(table).where(*(_FILTERS[name] for name in filters))


def _given(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in filters.items() if value is not None}


async def page_of(
    session: Reader, keyset: Keyset, page: Page, columns: Columns = None, **filters: Any
) -> Sequence[Record]:
    """A page of a table's rows (up to `limit + 1`, see `Page`), filtered by `_FILTERS`.

    A filter whose value is None is not applied; `username_contains` and `search` take
    `contains_pattern` values. `columns`: the optional columns to read (`projected`).
    """
    given = _given(filters)
    statement = _page_statement(keyset, PageShape.of(page), tuple(sorted(given)), columns)
    result = await session.execute(statement, given | _page_parameters(page))
    return list(by_position(result))


async def count_of(session: Reader, table: type[Base], **filters: Any) -> int:
    """How many rows of `table` the filters (as for `page_of`) match."""
    given = _given(filters)
    statement = _count_statement(table, tuple(sorted(given)))
    count: int = (await session.execute(statement, given)).scalar_one()
    return count


@cache
def _related_statement(relation: Relation, shape: PageShape, columns: Columns) -> AnySelect:
    """One page of related rows for each of many parents, in one statement.

    `ROW_NUMBER() OVER (PARTITION BY parent ...)` numbers each parent's rows in page order
    (PostgreSQL, and SQLite from 3.25); the outer query keeps the first `limit` of each.
    The optional columns not in `columns` (None: all) are NULL: rows keep their shape.
    """
    conditions, order = _keyset_clauses(relation.keyset, shape)
    ranked = (
        select(
            *(projected(column, columns) for column in relation.keyset.row),
            func.row_number().over(partition_by=relation.parent, order_by=order).label("rn"),
        )
        .where(one_of(relation.parent, "parent_ids"), *conditions)
        .subquery()
    )
    return (
        select(*(ranked.c[column.key] for column in relation.keyset.row))
        .where(ranked.c.rn <= bindparam("limit", type_=Integer))
        .order_by(ranked.c[relation.parent.key], ranked.c.rn)
    )


async def related_pages(
    session: Reader,
    relation: Relation,
    parent_ids: Sequence[int],
    page: Page,
    columns: Columns = None,
) -> dict[int, list[Record]]:
    """The same page (up to `limit + 1` rows) of each parent's related rows, by parent id.

    `columns`: the `OPTIONAL_COLUMNS` to read (None: all); the others are None in the rows.
    """
    statement = _related_statement(relation, PageShape.of(page), columns)
    parameters = {"parent_ids": list(parent_ids)} | _page_parameters(page)
    pages: dict[int, list[Record]] = {parent_id: [] for parent_id in parent_ids}
    parent_index = relation.parent_index
    for row in by_position(await session.execute(statement, parameters)):
        pages[row[parent_index]].append(row)
    return pages


@cache
def _related_count_statement(relation: Relation) -> AnySelect:
    return (
        select(relation.parent, func.count())
        .where(one_of(relation.parent, "parent_ids"))
        .group_by(relation.parent)
    )


async def related_counts(
    session: Reader, relation: Relation, parent_ids: Sequence[int]
) -> dict[int, int]:
    """How many related rows each parent has, by parent id (parents with none absent)."""
    result = await session.execute(
        _related_count_statement(relation), {"parent_ids": list(parent_ids)}
    )
    return dict(result.all())
