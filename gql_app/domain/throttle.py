"""Brute-force protection: failed logins per account, kept in the database.

The counts live in `login_failures`, so every server process sees the same ones. An account
is throttled while `LOGIN_MAX_FAILURES` failures fall within the last
`LOGIN_FAILURE_WINDOW_SECONDS`; a successful login clears its failures.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import queries
from gql_app.core.config import Settings


class RateLimitedError(Exception):
    """Too many failed logins for the account; try again after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed logins: retry after {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


def account_key(login: str) -> str:
    """The throttling key of a username or email, known or not, as the lookup matches it.

    Usernames match exactly, emails whatever their case. The key is a hash: people type
    passwords into the login field, and such typos must not be stored.
    """
    normalized = login.lower() if "@" in login else login
    return hashlib.sha256(normalized.encode()).hexdigest()


def _window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.login_failure_window_seconds)


async def throttled(
    session: AsyncSession, settings: Settings, key: str, now: datetime
) -> RateLimitedError | None:
    """The error to raise while the account is throttled (after the transaction), or None."""
    window = _window(settings)
    blocking = await queries.blocking_failure_at(
        session, account_key=key, since=now - window, max_failures=settings.login_max_failures
    )
    if blocking is None:
        return None
    return RateLimitedError(max(1, math.ceil((blocking + window - now).total_seconds())))


async def record_failure(
    session: AsyncSession, settings: Settings, key: str, now: datetime
) -> None:
    await queries.record_login_failure(
        session, account_key=key, now=now, since=now - _window(settings)
    )


async def reset(session: AsyncSession, *keys: str) -> None:
    """Forget the failures of the accounts' keys (after a successful login)."""
    await queries.clear_login_failures(session, list(keys))
