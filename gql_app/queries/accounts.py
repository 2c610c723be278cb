"""Accounts' SQL: users, sign-in tokens and the login failures that throttle sign-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from gql_app.db import Reads, one_of, unique_violation
from gql_app.db.models import AuthToken, LoginFailure, Post, User, UTCDateTime, login_name


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


# Every column of a user, in the order of `_USER_KEYS`: a row of them makes a `User` without
# the ORM's loading (`_detached_user`).
_USER_ATTRIBUTES = tuple(attribute.class_attribute for attribute in inspect(User).column_attrs)
_USER_KEYS = tuple(attribute.key for attribute in inspect(User).column_attrs)


_user_by_token_hash = (
    select(*_USER_ATTRIBUTES)
    .join(AuthToken, AuthToken.user_id == User.id)
    .where(
        AuthToken.token_hash == bindparam("token_hash"),
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > bindparam("now"),
    )
)


# Which of many tokens are still live: one statement for every socket of a worker (on
# PostgreSQL one array parameter, so one prepared text whatever the number of tokens).
_live_token_hashes = select(AuthToken.token_hash).where(
    one_of(AuthToken.token_hash, "hashes"),
    AuthToken.revoked_at.is_(None),
    AuthToken.expires_at > bindparam("now"),
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


# A deleted user's posts are deleted first, and named, so that each deletion is published.
# The user's row is locked before: a post of theirs being written is waited for (or waits,
# then fails on the missing author), so no post is left for the cascade to delete unnamed.
_lock_user = select(User.id).where(User.id == bindparam("user_id")).with_for_update()


_delete_posts_of = delete(Post).where(Post.author_id == bindparam("author_id")).returning(Post.id)


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


def _detached_user(row: Sequence[object]) -> User:
    """The `User` of a row of `_USER_ATTRIBUTES`, detached as if a session had loaded it and
    let it go: a session it is added to holds it as persistent, unchanged (no statement)."""
    user = User(**dict(zip(_USER_KEYS, row, strict=True)))
    make_transient_to_detached(user)
    return user


async def user_by_token_hash(
    reader: AsyncSession | Reads, token_hash: str, now: datetime
) -> User | None:
    """The owner of a live (unexpired, unrevoked) token, detached (`_detached_user`): read
    by a read unit on the driver, the ORM's loading cost more than the statement."""
    result = await reader.execute(_user_by_token_hash, {"token_hash": token_hash, "now": now})
    rows = result.all()
    return _detached_user(rows[0]) if rows else None


async def live_token_hashes(
    session: AsyncSession | Reads, token_hashes: Sequence[str], now: datetime
) -> set[str]:
    """Those of `token_hashes` that are live (unexpired, unrevoked); a deleted user's tokens
    were deleted with them."""
    rows = await session.execute(_live_token_hashes, {"hashes": list(token_hashes), "now": now})
    return {row[0] for row in rows}


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


async def delete_user(session: AsyncSession, user_id: int) -> list[int]:
    """Delete a user and their posts, and by cascade their comments and tokens; the ids of
    the posts deleted, in order."""
    await session.execute(_lock_user, {"user_id": user_id})
    posts = await session.execute(_delete_posts_of, {"author_id": user_id})
    post_ids = sorted(posts.scalars())
    await session.execute(_delete_user, {"user_id": user_id})
    return post_ids


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
