"""Brute-force protection: password checks counted in the database, before they run.

Every password check (a login, or the current password of `changePassword` and
`deleteAccount`) first reserves an attempt, in a short transaction of its own, on three
counters of `login_failures`:

- the account from the client's address, limited to `LOGIN_MAX_FAILURES`;
- the account from every address, `LOGIN_MAX_FAILURES_PER_ACCOUNT`: an attacker's guesses
  from one address do not lock the owner out elsewhere, and many addresses still meet a
  ceiling;
- the client's address across accounts, `LOGIN_MAX_FAILURES_PER_ADDRESS`.

Each count is one atomic statement (DESIGN.md contract 5), so concurrent attempts never
pass a limit: an attempt that would is refused without its password being hashed, and
counts nowhere. A right password takes its attempt back (and clears the account's failures
from that address); a wrong one stays counted. A counter's window begins at its first
failure and lasts `LOGIN_FAILURE_WINDOW_SECONDS`.

The account is the user's id whenever the login names a user (by username or email, in any
case), else the login as the database compares it, so unknown logins are throttled alike
and reveal nothing. Keys are hashes: people type passwords into the login field.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import queries
from gql_app.config import Settings

# Stale counters deleted per reservation: the table stays as small as the active keys.
SWEEP_BATCH = 100


class RateLimitedError(Exception):
    """Too many failed password checks; try again after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed logins: retry after {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def user_account(user_id: int) -> str:
    """The account of a known user, whatever login names them."""
    return f"user:{user_id}"


def unknown_account(login_name: str) -> str:
    """The account of a login that names nobody, in the database's form (`login_name_of`)."""
    return f"login:{login_name}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The counters one password check is reserved on (their hashed keys)."""

    pair: str
    account: str
    address: str

    @classmethod
    def of(cls, account: str, address: str) -> Attempt:
        return cls(
            pair=_key("pair", account, address),
            account=_key("account", account),
            address=_key("address", address),
        )

    def limits(self, settings: Settings) -> tuple[tuple[str, int], ...]:
        """Each counter's key with its limit."""
        return (
            (self.pair, settings.login_max_failures),
            (self.account, settings.login_max_failures_per_account),
            (self.address, settings.login_max_failures_per_address),
        )


class _LimitReachedError(Exception):
    def __init__(self, window_started_at: datetime) -> None:
        self.window_started_at = window_started_at


async def reserve(
    session: AsyncSession, settings: Settings, attempt: Attempt, now: datetime
) -> RateLimitedError | None:
    """Count the attempt on its counters, or the error to raise (after the transaction).

    Over any limit, every count of this attempt is rolled back to its savepoint: a refused
    attempt counts nowhere. Call inside a write transaction; it ends soon after.
    """
    window = timedelta(seconds=settings.login_failure_window_seconds)
    since = now - window
    limited = None
    try:
        async with session.begin_nested():
            for key, limit in attempt.limits(settings):
                failures, started = await queries.count_login_failure(
                    session, key=key, now=now, since=since
                )
                if failures > limit:
                    raise _LimitReachedError(started)
    except _LimitReachedError as reached:
        wait = (reached.window_started_at + window - now).total_seconds()
        limited = RateLimitedError(max(1, math.ceil(wait)))
    await queries.sweep_login_failures(session, since=since, limit=SWEEP_BATCH)
    return limited


async def succeeded(session: AsyncSession, attempt: Attempt) -> None:
    """The password was right: take the attempt back and clear the pair's failures."""
    await queries.clear_login_failures(session, [attempt.pair])
    await queries.uncount_login_failures(session, [attempt.account, attempt.address])
