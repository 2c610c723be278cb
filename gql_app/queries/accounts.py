"""Accounts' SQL: users, sign-in tokens and the login failures that throttle sign-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import (
    Integer,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app.db import unique_violation
from gql_app.db.models import AuthToken, LoginFailure, User


class UsernameTakenError(Exception):
    """The username is already registered."""


class EmailTakenError(Exception):
    """The email (compared case-insensitively) is already registered."""


USER_CONSTRAINT_ERRORS: dict[str, type[Exception]] = {
    "uq_users_username": UsernameTakenError,
    "uq_users_email_lower": EmailTakenError,
}


_user_by_id = select(User).where(User.id == bindparam("id"))


_user_by_username = select(User).where(User.username == bindparam("username"))


_user_by_email = select(User).where(func.lower(User.email) == func.lower(bindparam("email")))


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


_nth_newest_failure = (
    select(LoginFailure.failed_at)
    .where(
        LoginFailure.account_key == bindparam("account_key"),
        LoginFailure.failed_at > bindparam("since"),
    )
    .order_by(LoginFailure.failed_at.desc())
    .limit(1)
    .offset(bindparam("skip", type_=Integer))
)


_delete_old_failures = delete(LoginFailure).where(
    LoginFailure.account_key == bindparam("account_key"),
    LoginFailure.failed_at <= bindparam("since"),
)


_delete_failures = delete(LoginFailure).where(
    LoginFailure.account_key.in_(bindparam("account_keys", expanding=True))
)


_insert_failure = insert(LoginFailure)


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return (await session.execute(_user_by_id, {"id": user_id})).scalar_one_or_none()


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.execute(_user_by_username, {"username": username})).scalar_one_or_none()


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


async def blocking_failure_at(
    session: AsyncSession, *, account_key: str, since: datetime, max_failures: int
) -> datetime | None:
    """The failure that keeps the account throttled: the `max_failures`-th newest since `since`.

    None when fewer failures than `max_failures` fall in the window (the login may proceed).
    One statement answers both whether the account is throttled and until when.
    """
    result = await session.execute(
        _nth_newest_failure,
        {"account_key": account_key, "since": since, "skip": max_failures - 1},
    )
    return result.scalar_one_or_none()


async def record_login_failure(
    session: AsyncSession, *, account_key: str, now: datetime, since: datetime
) -> None:
    """Record a failed login, dropping the account's failures that fell out of the window."""
    params = {"account_key": account_key, "since": since}
    await session.execute(_delete_old_failures, params)
    await session.execute(_insert_failure, {"account_key": account_key, "failed_at": now})


async def clear_login_failures(session: AsyncSession, account_keys: Sequence[str]) -> None:
    await session.execute(_delete_failures, {"account_keys": list(account_keys)})
