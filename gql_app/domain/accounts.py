"""Account flows: register, log in and out, change password or profile, delete the account.

Each flow validates its input, hashes or verifies passwords in a worker thread BEFORE it
opens a write transaction (no connection is held while hashing), and does its writes in one
transaction: a unit of work of `RequestSession.run`, rerun once if it met a statement a
migration made stale (it acts only through its session, and a rerun makes anew what it
makes, tokens among them). Expected failures are raised as `InvalidInput` (from `account_input`),
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
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import queries
from gql_app.core.config import Settings
from gql_app.core.events import Event, EventKind
from gql_app.db import RequestSession
from gql_app.db.models import User, utcnow
from gql_app.domain import input as account_input
from gql_app.domain import throttle
from gql_app.domain.events import publish_all
from gql_app.domain.security import PasswordHashBusy, hash_password, new_token, verify_password
from gql_app.queries import EmailTakenError, UsernameTakenError

T = TypeVar("T")


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

    async def create(session: AsyncSession) -> IssuedToken | UsernameTakenError | EmailTakenError:
        try:
            user = await queries.create_user(
                session, username=username, email=email, password_hash=password_hash
            )
        except (UsernameTakenError, EmailTakenError) as exc:
            return exc
        return await _issue_token(session, settings, user, utcnow())

    return _raised(await db.run(create, write=True))


def _raised(outcome: T | UsernameTakenError | EmailTakenError) -> T:
    """`outcome`, unless it is the taken error a unit of work returned: then raised, after
    its transaction ended."""
    if isinstance(outcome, UsernameTakenError | EmailTakenError):
        raise outcome
    return outcome


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

    async def reserve(
        session: AsyncSession,
    ) -> tuple[User | None, throttle.Attempt, throttle.RateLimitedError | None]:
        user = await _user_by_login(session, login)
        if user is not None:
            account = throttle.user_account(user.id)
        else:
            account = throttle.unknown_account(await queries.login_name_of(session, login))
        attempt = throttle.Attempt.of(account, address)
        return user, attempt, await throttle.reserve(session, settings, attempt, now)

    user, attempt, limited = await db.run(reserve, write=True)
    if limited is not None:
        raise limited
    ok, new_hash = await _checked(db, attempt, password, user.password_hash if user else None)
    if user is None or not ok:
        raise InvalidCredentialsError
    signed_in = user

    async def issue(session: AsyncSession) -> IssuedToken:
        await throttle.succeeded(session, attempt)
        if new_hash is not None:
            await queries.set_password_hash(session, signed_in.id, new_hash)
        return await _issue_token(session, settings, signed_in, now)

    return await db.run(issue, write=True)


async def _checked(
    db: RequestSession, attempt: throttle.Attempt, password: str, password_hash: str | None
) -> tuple[bool, str | None]:
    """`verify_password` for a reserved attempt, withdrawn if the hashing queue refused it."""
    try:
        return await verify_password(password, password_hash)
    except PasswordHashBusy:
        await db.run(partial(throttle.withdrawn, attempt=attempt), write=True)
        raise


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
    limited = await db.run(
        partial(throttle.reserve, settings=settings, attempt=attempt, now=utcnow()), write=True
    )
    if limited is not None:
        raise limited
    ok, _ = await _checked(db, attempt, password, user.password_hash)
    if not ok:
        raise InvalidCredentialsError
    return attempt


async def logout(db: RequestSession, token_hash: str) -> bool:
    """Revoke the presented token; False if it was no longer live."""
    return await db.run(
        partial(queries.revoke_token, token_hash=token_hash, now=utcnow()), write=True
    )


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

    async def change(session: AsyncSession) -> int:
        await queries.set_password_hash(session, user.id, password_hash)
        await throttle.succeeded(session, attempt)
        return await queries.revoke_other_tokens(
            session, user_id=user.id, keep_token_hash=token_hash, now=utcnow()
        )

    return await db.run(change, write=True)


async def update_profile(db: RequestSession, *, user: User, username: str, email: str) -> User:
    """Change the username and email; the unique constraints decide conflicts."""
    username = account_input.username(username)
    email = account_input.email(email)

    async def update(session: AsyncSession) -> User | UsernameTakenError | EmailTakenError:
        try:
            return await queries.update_profile(
                session, user_id=user.id, username=username, email=email
            )
        except (UsernameTakenError, EmailTakenError) as exc:
            return exc

    return _raised(await db.run(update, write=True))


async def delete_account(
    db: RequestSession, settings: Settings, *, user: User, password: str, address: str
) -> int:
    """Delete the user (their posts, comments and tokens go with them); their id. Each
    post's deletion is published, as `deletePost` publishes it."""
    attempt = await _confirm_password(
        db, settings, user, password, field="password", address=address
    )

    async def delete(session: AsyncSession) -> None:
        await throttle.succeeded(session, attempt)
        post_ids = await queries.delete_user(session, user.id)
        deleted = [Event(EventKind.POST_DELETED, post, post, user.id) for post in post_ids]
        await publish_all(session, deleted)  # completes the subscriptions on each post

    await db.run(delete, write=True)
    return user.id
