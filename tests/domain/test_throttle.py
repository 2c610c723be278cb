"""Brute-force protection kept in the database: per account, windowed, shared by processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from gql_app.core.config import Settings
from gql_app.db import RequestSession, create_engine
from gql_app.db.models import LoginFailure, utcnow
from gql_app.domain import accounts
from gql_app.domain.accounts import InvalidCredentialsError
from gql_app.domain.throttle import RateLimitedError, account_key
from tests.support.sessions import request_session

PASSWORD = "the right password"


@pytest.fixture
async def alice(db: RequestSession, settings: Settings) -> None:
    await accounts.register(
        db, settings, username="alice", email="alice@example.com", password=PASSWORD
    )


async def _fail(db: RequestSession, settings: Settings, login: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentialsError):
            await accounts.login(db, settings, login=login, password="a wrong password")


async def _failures(db: RequestSession) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(LoginFailure))).scalar_one()


async def _age_failures(db: RequestSession, by: timedelta) -> None:
    """Move every recorded failure to `by` ago."""
    async with db.transaction(write=True) as session:
        await session.execute(update(LoginFailure).values(failed_at=utcnow() - by))


@pytest.mark.usefixtures("alice")
async def test_a_failed_login_is_recorded_although_the_login_fails(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 1)
    assert await _failures(db) == 1


@pytest.mark.usefixtures("alice")
async def test_the_sixth_attempt_is_rate_limited_even_with_the_right_password(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    with pytest.raises(RateLimitedError) as caught:
        await accounts.login(db, settings, login="alice", password=PASSWORD)
    assert 0 < caught.value.retry_after_seconds <= settings.login_failure_window_seconds
    assert await _failures(db) == 5


@pytest.mark.usefixtures("alice")
async def test_four_failures_do_not_throttle(db: RequestSession, settings: Settings) -> None:
    await _fail(db, settings, "alice", 4)
    issued = await accounts.login(db, settings, login="alice", password=PASSWORD)
    assert issued.user.username == "alice"


async def test_unknown_accounts_are_throttled_like_known_ones(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "nobody", 5)
    with pytest.raises(RateLimitedError):
        await accounts.login(db, settings, login="nobody", password="whatever it is")


@pytest.mark.usefixtures("alice")
async def test_the_throttle_lifts_when_the_window_has_passed(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    await _age_failures(db, timedelta(seconds=settings.login_failure_window_seconds))
    issued = await accounts.login(db, settings, login="alice", password=PASSWORD)
    assert issued.user.username == "alice"


@pytest.mark.usefixtures("alice")
async def test_retry_after_counts_to_when_the_oldest_counted_failure_leaves_the_window(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    await _age_failures(db, timedelta(seconds=600))
    with pytest.raises(RateLimitedError) as caught:
        await accounts.login(db, settings, login="alice", password=PASSWORD)
    assert 290 <= caught.value.retry_after_seconds <= 300


@pytest.mark.usefixtures("alice")
async def test_a_successful_login_clears_the_failures_of_username_and_email(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 4)
    await _fail(db, settings, "ALICE@example.com", 4)
    await accounts.login(db, settings, login="alice@example.com", password=PASSWORD)
    assert await _failures(db) == 0


@pytest.mark.usefixtures("alice")
async def test_an_email_is_throttled_whatever_its_case(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "Alice@Example.com", 3)
    await _fail(db, settings, "alice@EXAMPLE.COM", 2)
    with pytest.raises(RateLimitedError):
        await accounts.login(db, settings, login="alice@example.com", password=PASSWORD)


def test_the_stored_key_is_a_hash_not_what_was_typed() -> None:
    key = account_key("my secret password")
    assert len(key) == 64 and "secret" not in key
    assert account_key("A@X.io") == account_key("a@x.io")
    assert account_key("Alice") != account_key("alice")


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[RequestSession]:
    """A second server's view of the database: its own engine and pool."""
    engine = create_engine(settings)
    session = request_session(engine)
    try:
        yield session
    finally:
        await session.close()
        await engine.dispose()


@pytest.mark.usefixtures("alice")
async def test_failures_counted_by_one_process_throttle_another(
    db: RequestSession, other_process: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 3)
    await _fail(other_process, settings, "alice", 2)
    with pytest.raises(RateLimitedError):
        await accounts.login(db, settings, login="alice", password=PASSWORD)
