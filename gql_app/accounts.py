"""Account flows: register, log in and out, change password or profile, delete the account.

Each flow validates its input, hashes or verifies passwords in a worker thread BEFORE it
opens a write transaction (no connection is held while hashing), and does its writes in one
transaction. Expected failures are raised as `InvalidInput` (from `account_input`),
`InvalidCredentialsError` (below), `UsernameTakenError` and `EmailTakenError` (from
`queries`) and `RateLimitedError` (from `throttle`); the GraphQL layer turns them into
payload union members.

Expected errors are raised after their transaction has ended, never inside it: a rollback
expires every object of the request's session (the viewer among them), and a later read of
an expired attribute would need I/O that async code cannot do implicitly. A violated unique
constraint is rolled back to its savepoint, and the empty transaction then commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import account_input, queries, throttle
from gql_app.config import Settings
from gql_app.db import RequestSession
from gql_app.models import User, utcnow
from gql_app.queries import EmailTakenError, UsernameTakenError
from gql_app.security import hash_password, new_token, verify_password


class InvalidCredentialsError(Exception):
    """The login or password is wrong (which one is never said)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new bearer token: shown to its owner once, stored only as its hash."""

    user: User
    token: str
    expires_at: datetime


async def _issue_token(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> IssuedToken:
    token, token_hash = new_token()
    expires_at = now + timedelta(days=settings.token_ttl_days)
    await queries.create_token(
        session, user_id=user.id, token_hash=token_hash, expires_at=expires_at
    )
    return IssuedToken(user=user, token=token, expires_at=expires_at)


async def register(
    db: RequestSession, settings: Settings, *, username: str, email: str, password: str
) -> IssuedToken:
    """Create a user and log them in; the unique constraints decide between racing callers."""
    username = account_input.username(username)
    email = account_input.email(email)
    password_hash = await hash_password(account_input.new_password(password))
    async with db.transaction(write=True) as session:
        try:
            user = await queries.create_user(
                session, username=username, email=email, password_hash=password_hash
            )
        except (UsernameTakenError, EmailTakenError) as exc:
            taken = exc
        else:
            return await _issue_token(session, settings, user, utcnow())
    raise taken


async def _user_by_login(session: AsyncSession, login: str) -> User | None:
    if "@" in login:
        return await queries.user_by_email(session, login)
    return await queries.user_by_username_ignoring_case(session, login)


async def login(
    db: RequestSession, settings: Settings, *, login: str, password: str, address: str
) -> IssuedToken:
    """A token for the user whose username or email is `login`, if `password` is theirs.

    The attempt is counted (throttled per account and client `address`) before the password
    is checked. Unknown logins cost the same password work and give the same error as wrong
    passwords.
    """
    login = account_input.login(login)
    password = account_input.given_password(password)
    now = utcnow()
    async with db.transaction(write=True) as session:
        user = await _user_by_login(session, login)
        if user is not None:
            account = throttle.user_account(user.id)
        else:
            account = throttle.unknown_account(await queries.login_name_of(session, login))
        attempt = throttle.Attempt.of(account, address)
        limited = await throttle.reserve(session, settings, attempt, now)
    if limited is not None:
        raise limited
    ok, new_hash = await verify_password(password, user.password_hash if user else None)
    if user is None or not ok:
        raise InvalidCredentialsError
    async with db.transaction(write=True) as session:
        await throttle.succeeded(session, attempt)
        if new_hash is not None:
            await queries.set_password_hash(session, user.id, new_hash)
        return await _issue_token(session, settings, user, now)


async def _confirm_password(
    db: RequestSession,
    settings: Settings,
    user: User,
    password: str,
    *,
    field: str,
    address: str,
) -> throttle.Attempt:
    """Check the signed-in user's password, throttled like their logins.

    Returns the attempt, for the caller to mark `throttle.succeeded` in its transaction.
    """
    password = account_input.given_password(password, field=field)
    attempt = throttle.Attempt.of(throttle.user_account(user.id), address)
    async with db.transaction(write=True) as session:
        limited = await throttle.reserve(session, settings, attempt, utcnow())
    if limited is not None:
        raise limited
    ok, _ = await verify_password(password, user.password_hash)
    if not ok:
        raise InvalidCredentialsError
    return attempt


async def logout(db: RequestSession, token_hash: str) -> bool:
    """Revoke the presented token; False if it was no longer live."""
    async with db.transaction(write=True) as session:
        return await queries.revoke_token(session, token_hash, utcnow())


async def change_password(
    db: RequestSession,
    settings: Settings,
    *,
    user: User,
    token_hash: str | None,
    current_password: str,
    new_password: str,
    address: str,
) -> int:
    """Set a new password and revoke every other token of the user; how many were revoked."""
    new_password = account_input.new_password(new_password, field="newPassword")
    attempt = await _confirm_password(
        db, settings, user, current_password, field="currentPassword", address=address
    )
    password_hash = await hash_password(new_password)
    async with db.transaction(write=True) as session:
        await queries.set_password_hash(session, user.id, password_hash)
        await throttle.succeeded(session, attempt)
        return await queries.revoke_other_tokens(
            session, user_id=user.id, keep_token_hash=token_hash, now=utcnow()
        )


async def update_profile(db: RequestSession, *, user: User, username: str, email: str) -> User:
    """Change the username and email; the unique constraints decide conflicts."""
    username = account_input.username(username)
    email = account_input.email(email)
    async with db.transaction(write=True) as session:
        try:
            return await queries.update_profile(
                session, user_id=user.id, username=username, email=email
            )
        except (UsernameTakenError, EmailTakenError) as exc:
            taken = exc
    raise taken


async def delete_account(
    db: RequestSession, settings: Settings, *, user: User, password: str, address: str
) -> int:
    """Delete the user (their posts, comments and tokens go with them); their id."""
    attempt = await _confirm_password(
        db, settings, user, password, field="password", address=address
    )
    async with db.transaction(write=True) as session:
        await throttle.succeeded(session, attempt)
        await queries.delete_user(session, user.id)
    return user.id
