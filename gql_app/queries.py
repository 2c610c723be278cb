"""Every SQL statement of the service, parameterized (DESIGN.md contract 3).

Functions take the session (or connection) and plain parameters; statements that are reused
are built once at module level so the driver's prepared-statement cache is hit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from gql_app.db import Reads, copy_records, foreign_key_violation, one_of, unique_violation
from gql_app.graphql.pagination import Page
from gql_app.models import (
    AuthToken,
    Base,
    Comment,
    LoginFailure,
    Post,
    User,
    UTCDateTime,
    login_name,
)


class UsernameTakenError(Exception):
    """The username is already registered."""


class EmailTakenError(Exception):
    """The email (compared case-insensitively) is already registered."""


USER_CONSTRAINT_ERRORS: dict[str, type[Exception]] = {
    "uq_users_username": UsernameTakenError,
    "uq_users_username_lower": UsernameTakenError,
    "uq_users_email_lower": EmailTakenError,
}

_user_by_id = select(User).where(User.id == bindparam("id"))
_user_by_username = select(User).where(User.username == bindparam("username"))
_user_by_username_ignoring_case = select(User).where(
    login_name(User.username) == login_name(bindparam("username"))
)
_user_by_email = select(User).where(login_name(User.email) == login_name(bindparam("email")))
_login_name = select(login_name(bindparam("login", type_=String())))
_user_by_token_hash = (
    select(User)
    .join(AuthToken, AuthToken.user_id == User.id)
    .where(
        AuthToken.token_hash == bindparam("token_hash"),
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > bindparam("now"),
    )
)
_update_profile = (
    update(User)
    .where(User.id == bindparam("user_id"))
    .values(username=bindparam("username"), email=bindparam("email"))
    .returning(User)
    # Refresh a loaded user object from the returned row; leave it untouched if this fails.
    .execution_options(synchronize_session=False, populate_existing=True)
)
_set_password_hash = (
    update(User)
    .where(User.id == bindparam("user_id"))
    .values(password_hash=bindparam("password_hash"))
    .returning(User)
    .execution_options(synchronize_session=False, populate_existing=True)
)
_delete_user = delete(User).where(User.id == bindparam("user_id"))
# A bound name equal to a column of an UPDATE's table is reserved: hence "hash", "owner_id".
_revoke_token = (
    update(AuthToken)
    .where(AuthToken.token_hash == bindparam("hash"), AuthToken.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_revoke_other_tokens = (
    update(AuthToken)
    .where(
        AuthToken.user_id == bindparam("owner_id"),
        AuthToken.token_hash != bindparam("keep"),
        AuthToken.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("now"))
)
# One statement counts a failure atomically: the row is locked (PostgreSQL) or the database
# written (SQLite) until the transaction ends, so concurrent attempts on a key queue up.
# A window that has passed starts again at this failure. The same SQL on both dialects.
_count_failure = (
    text(
        "INSERT INTO login_failures (throttle_key, failures, window_started_at)"
        " VALUES (:key, 1, :now)"
        " ON CONFLICT (throttle_key) DO UPDATE SET"
        " failures = CASE WHEN login_failures.window_started_at <= :since THEN 1"
        " ELSE login_failures.failures + 1 END,"
        " window_started_at = CASE WHEN login_failures.window_started_at <= :since THEN :now"
        " ELSE login_failures.window_started_at END"
        " RETURNING failures, window_started_at"
    )
    .bindparams(bindparam("now", type_=UTCDateTime()), bindparam("since", type_=UTCDateTime()))
    .columns(failures=Integer(), window_started_at=UTCDateTime())
)
_uncount_failures = (
    update(LoginFailure)
    .where(
        LoginFailure.throttle_key.in_(bindparam("keys", expanding=True)),
        LoginFailure.failures > 0,
    )
    .values(failures=LoginFailure.failures - 1)
)
_delete_failures = delete(LoginFailure).where(
    LoginFailure.throttle_key.in_(bindparam("keys", expanding=True))
)
# Rows another transaction holds are left for a later sweep (SKIP LOCKED; SQLite has one
# writer at a time and ignores the clause), so sweeping never waits or deadlocks.
_sweep_failures = delete(LoginFailure).where(
    LoginFailure.throttle_key.in_(
        select(LoginFailure.throttle_key)
        .where(LoginFailure.window_started_at <= bindparam("since"))
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)
_ping = text("SELECT 1")
_count_users = select(func.count()).select_from(User)
_connections_by_state = text(
    "SELECT coalesce(state, 'unknown') AS state, count(*) AS connections"
    " FROM pg_stat_activity WHERE application_name = :application_name"
    " AND pid <> pg_backend_pid() GROUP BY state ORDER BY state"
)
_connection_tls = text(
    "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
)
_connection_states = text(
    "SELECT coalesce(state, 'unknown') AS state,"
    " coalesce(extract(epoch FROM clock_timestamp() - state_change), 0)::float8 AS seconds,"
    " coalesce(query, '') AS query"
    " FROM pg_stat_activity WHERE application_name = :application_name"
    " AND pid <> pg_backend_pid() ORDER BY state, seconds DESC"
)
_insert_user_ids = insert(User).returning(User.id, sort_by_parameter_order=True)
_insert_post_ids = insert(Post).returning(Post.id, sort_by_parameter_order=True)
_insert_comments = insert(Comment)


async def ping(connection: AsyncConnection) -> None:
    """One round trip to the database."""
    await connection.execute(_ping)


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return (await session.execute(_user_by_id, {"id": user_id})).scalar_one_or_none()


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.execute(_user_by_username, {"username": username})).scalar_one_or_none()


async def user_by_username_ignoring_case(session: AsyncSession, username: str) -> User | None:
    """The user whose username is `username` whatever its case (as logins match it)."""
    result = await session.execute(_user_by_username_ignoring_case, {"username": username})
    return result.scalar_one_or_none()


async def login_name_of(session: AsyncSession, login: str) -> str:
    """`login` in the form the database compares usernames and emails in (`login_name`)."""
    return (await session.execute(_login_name, {"login": login})).scalar_one()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with `email`, compared case-insensitively."""
    return (await session.execute(_user_by_email, {"email": email})).scalar_one_or_none()


async def user_by_token_hash(session: AsyncSession, token_hash: str, now: datetime) -> User | None:
    """The owner of a live (unexpired, unrevoked) token."""
    result = await session.execute(_user_by_token_hash, {"token_hash": token_hash, "now": now})
    return result.scalar_one_or_none()


async def create_token(
    session: AsyncSession, *, user_id: int, token_hash: str, expires_at: datetime
) -> AuthToken:
    token = AuthToken(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
    session.add(token)
    await session.flush()
    return token


async def create_user(
    session: AsyncSession, *, username: str, email: str, password_hash: str
) -> User:
    """Insert a user; the unique constraints decide races (DESIGN.md contract 5).

    Raises `UsernameTakenError` or `EmailTakenError`; call inside a transaction, which a
    violation leaves usable (the insert runs in a savepoint).
    """
    user = User(username=username, email=email, password_hash=password_hash)
    async with _user_constraints(session):
        session.add(user)
    return user


@asynccontextmanager
async def _user_constraints(session: AsyncSession) -> AsyncIterator[None]:
    """Run the block in a savepoint, turning a violated user uniqueness into its typed error."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        error = USER_CONSTRAINT_ERRORS.get(unique_violation(exc) or "")
        if error is None:
            raise
        raise error from None


async def update_profile(session: AsyncSession, *, user_id: int, username: str, email: str) -> User:
    """Change a user's username and email; raises `UsernameTakenError` or `EmailTakenError`."""
    async with _user_constraints(session):
        result = await session.execute(
            _update_profile, {"user_id": user_id, "username": username, "email": email}
        )
        return result.scalar_one()


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    """Store a new hash (the user object, if loaded, is refreshed too)."""
    params = {"user_id": user_id, "password_hash": password_hash}
    (await session.execute(_set_password_hash, params)).scalar_one()


async def delete_user(session: AsyncSession, user_id: int) -> None:
    """Delete a user and, by cascade, their posts, comments and tokens."""
    await session.execute(_delete_user, {"user_id": user_id})


async def revoke_token(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Revoke a live token; False if it was already revoked or never existed."""
    result = await session.execute(_revoke_token, {"hash": token_hash, "now": now})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_other_tokens(
    session: AsyncSession, *, user_id: int, keep_token_hash: str | None, now: datetime
) -> int:
    """Revoke every live token of the user but `keep_token_hash`; how many were revoked."""
    result = await session.execute(
        _revoke_other_tokens, {"owner_id": user_id, "keep": keep_token_hash or "", "now": now}
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_login_failure(
    session: AsyncSession, *, key: str, now: datetime, since: datetime
) -> tuple[int, datetime]:
    """Count a failure of `key` (a window that began at or before `since` restarts now).

    Returns the failures now counted in the key's window and when that window began.
    """
    row = (await session.execute(_count_failure, {"key": key, "now": now, "since": since})).one()
    return row.failures, row.window_started_at


async def uncount_login_failures(session: AsyncSession, keys: Sequence[str]) -> None:
    """Take back one counted failure of each key (the attempt turned out right)."""
    await session.execute(_uncount_failures, {"keys": list(keys)})


async def clear_login_failures(session: AsyncSession, keys: Sequence[str]) -> None:
    await session.execute(_delete_failures, {"keys": list(keys)})


async def sweep_login_failures(session: AsyncSession, *, since: datetime, limit: int) -> None:
    """Delete up to `limit` counters whose window began at or before `since`."""
    await session.execute(_sweep_failures, {"since": since, "limit": limit})


async def count_users(session: AsyncSession) -> int:
    return (await session.execute(_count_users)).scalar_one()


async def connections_by_state(
    connection: AsyncConnection, application_name: str
) -> list[tuple[str, int]]:
    """PostgreSQL only: the application's connections in `pg_stat_activity`, per state."""
    result = await connection.execute(_connections_by_state, {"application_name": application_name})
    return [(row.state, row.connections) for row in result]


async def connection_tls(connection: AsyncConnection) -> str | None:
    """PostgreSQL only: the TLS version of this connection (`TLSv1.3`), None if unencrypted."""
    version: str | None = await connection.scalar(_connection_tls)
    return version


class ConnectionState(NamedTuple):
    state: str
    seconds: float  # in this state so far
    query: str  # the last statement it ran (or runs)


async def connection_states(
    connection: AsyncConnection, application_name: str
) -> list[ConnectionState]:
    """PostgreSQL only: each of the application's connections, its state, for how long, and
    its last statement (an `idle in transaction` one that stays is a leak)."""
    result = await connection.execute(_connection_states, {"application_name": application_name})
    return [ConnectionState(row.state, row.seconds, row.query) for row in result]


async def insert_users(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk insert; the new ids, in the order of `rows`."""
    return list((await session.execute(_insert_user_ids, rows)).scalars())


async def insert_posts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk insert; the new ids, in the order of `rows`."""
    return list((await session.execute(_insert_post_ids, rows)).scalars())


_COMMENT_COLUMNS = ("post_id", "author_id", "body", "created_at")


async def insert_comments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert, with COPY where the database has it (comments are the bulk of demo data)."""
    records = [tuple(row[column] for column in _COMMENT_COLUMNS) for row in rows]
    if not await copy_records(session, Comment.__tablename__, _COMMENT_COLUMNS, records):
        await session.execute(_insert_comments, rows)


async def delete_all_users(session: AsyncSession) -> None:
    """Delete every user, and so (by cascade) every post, comment and token."""
    await session.execute(delete(User))


# The GraphQL API's reads and writes of posts and comments. Reads return plain rows and
# take many ids at once: the DataLoaders of gql_app/loaders.py batch them.

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


class PostMissingError(Exception):
    """The post a comment was added to does not exist (any more)."""


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
    # Read once: an attribute's `.key` and a column type's `python_type` cost microseconds,
    # and every edge of every page asks for its row's key, every connection for the types.
    key_names: tuple[str, ...] = field(init=False)
    key_types: tuple[type, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_names", tuple(column.key for column in self.key))
        object.__setattr__(self, "key_types", tuple(column.type.python_type for column in self.key))

    def key_of(self, row: Record) -> tuple[Any, ...]:
        return tuple(getattr(row, name) for name in self.key_names)


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
def _page_statement(keyset: Keyset, shape: PageShape, filters: tuple[str, ...]) -> AnySelect:
    conditions, order = _keyset_clauses(keyset, shape)
    return (
        select(*keyset.row)
        .where(*(_FILTERS[name] for name in filters), *conditions)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def _count_statement(table: type[Base], filters: tuple[str, ...]) -> AnySelect:
    return select(func.count()).select_from(table).where(*(_FILTERS[name] for name in filters))


def _given(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in filters.items() if value is not None}


async def page_of(session: Reader, keyset: Keyset, page: Page, **filters: Any) -> Sequence[Record]:
    """A page of a table's rows (up to `limit + 1`, see `Page`), filtered by `_FILTERS`.

    A filter whose value is None is not applied; `username_contains` and `search` take
    `contains_pattern` values.
    """
    given = _given(filters)
    statement = _page_statement(keyset, PageShape.of(page), tuple(sorted(given)))
    result = await session.execute(statement, given | _page_parameters(page))
    return result.all()


async def count_of(session: Reader, table: type[Base], **filters: Any) -> int:
    """How many rows of `table` the filters (as for `page_of`) match."""
    given = _given(filters)
    statement = _count_statement(table, tuple(sorted(given)))
    count: int = (await session.execute(statement, given)).scalar_one()
    return count


@cache
def _related_statement(relation: Relation, shape: PageShape) -> AnySelect:
    """One page of related rows for each of many parents, in one statement.

    `ROW_NUMBER() OVER (PARTITION BY parent ...)` numbers each parent's rows in page order
    (PostgreSQL, and SQLite from 3.25); the outer query keeps the first `limit` of each.
    """
    conditions, order = _keyset_clauses(relation.keyset, shape)
    ranked = (
        select(
            *relation.keyset.row,
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
    session: Reader, relation: Relation, parent_ids: Sequence[int], page: Page
) -> dict[int, list[Record]]:
    """The same page (up to `limit + 1` rows) of each parent's related rows, by parent id."""
    statement = _related_statement(relation, PageShape.of(page))
    parameters = {"parent_ids": list(parent_ids)} | _page_parameters(page)
    pages: dict[int, list[Record]] = {parent_id: [] for parent_id in parent_ids}
    parent_index = relation.parent_index
    for row in await session.execute(statement, parameters):
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
    return {parent_id: count for parent_id, count in result}


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


_insert_post = insert(Post).returning(*POST_ROW)
_update_post = (
    update(Post)
    .where(Post.id == bindparam("post_id"), Post.author_id == bindparam("owner_id"))
    .values(
        title=func.coalesce(bindparam("title", type_=Post.title.type), Post.title),
        body=func.coalesce(bindparam("body", type_=Post.body.type), Post.body),
        updated_at=bindparam("now"),
    )
    .returning(*POST_ROW)
)
_delete_post = (
    delete(Post)
    .where(Post.id == bindparam("post_id"), Post.author_id == bindparam("author_id"))
    .returning(Post.id)
)
_post_author_id = select(Post.author_id).where(Post.id == bindparam("post_id"))
_insert_comment = insert(Comment).returning(*COMMENT_ROW)
_delete_comment = (
    delete(Comment)
    .where(Comment.id == bindparam("comment_id"), Comment.author_id == bindparam("author_id"))
    .returning(Comment.id)
)
_comment_author_id = select(Comment.author_id).where(Comment.id == bindparam("comment_id"))


async def insert_post(
    session: AsyncSession, *, author_id: int, title: str, body: str, now: datetime
) -> Record:
    values = {"author_id": author_id, "title": title, "body": body}
    result = await session.execute(_insert_post, values | {"created_at": now, "updated_at": now})
    return result.one()


async def update_post(
    session: AsyncSession,
    *,
    post_id: int,
    author_id: int,
    title: str | None,
    body: str | None,
    now: datetime,
) -> Record | None:
    """Change the fields given (None keeps one) of a post of `author_id`; None if no such post."""
    result = await session.execute(
        _update_post,
        {"post_id": post_id, "owner_id": author_id, "title": title, "body": body, "now": now},
    )
    return result.one_or_none()


async def delete_post(session: AsyncSession, *, post_id: int, author_id: int) -> bool:
    """Delete a post of `author_id` and, by cascade, its comments; False if no such post."""
    result = await session.execute(_delete_post, {"post_id": post_id, "author_id": author_id})
    return result.one_or_none() is not None


async def post_author_id(session: AsyncSession, post_id: int) -> int | None:
    """The author of a post, or None if there is no such post."""
    return (await session.execute(_post_author_id, {"post_id": post_id})).scalar_one_or_none()


async def insert_comment(
    session: AsyncSession, *, post_id: int, author_id: int, body: str, now: datetime
) -> Record:
    """Insert a comment; raises `PostMissingError` when the post does not exist.

    The foreign key decides (DESIGN.md contract 5); the insert runs in a savepoint, so the
    caller's transaction stays usable after a violation.
    """
    values = {"post_id": post_id, "author_id": author_id, "body": body, "created_at": now}
    try:
        async with session.begin_nested():
            return (await session.execute(_insert_comment, values)).one()
    except IntegrityError as exc:
        if not foreign_key_violation(exc):
            raise
        raise PostMissingError from None


async def delete_comment(session: AsyncSession, *, comment_id: int, author_id: int) -> bool:
    """Delete a comment of `author_id`; False if there is no such comment."""
    result = await session.execute(
        _delete_comment, {"comment_id": comment_id, "author_id": author_id}
    )
    return result.one_or_none() is not None


async def comment_author_id(session: AsyncSession, comment_id: int) -> int | None:
    """The author of a comment, or None if there is no such comment."""
    result = await session.execute(_comment_author_id, {"comment_id": comment_id})
    return result.scalar_one_or_none()
