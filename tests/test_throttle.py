"""Brute-force protection kept in the database: attempts counted before they are checked,
atomically, per account and client address, shared by processes, swept when stale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from gql_app import accounts
from gql_app.accounts import InvalidCredentialsError
from gql_app.config import Settings
from gql_app.db import RequestSession, create_engine, create_sessionmaker
from gql_app.models import LoginFailure, utcnow
from gql_app.throttle import RateLimitedError
from tests.conftest import AppWith, bearer_headers, graphql_data

PASSWORD = "the right password"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { __typename
  ... on AuthSuccess { token } } }"""
CHANGE_PASSWORD = """mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) { __typename } }"""
REGISTER = """mutation($input: RegisterInput!) { register(input: $input) { __typename
  ... on AuthSuccess { token } } }"""


@pytest.fixture
async def alice(db: RequestSession, settings: Settings) -> None:
    await accounts.register(
        db, settings, username="alice", email="alice@example.com", password=PASSWORD
    )


async def _fail(
    db: RequestSession, settings: Settings, login: str, times: int, address: str = ATTACKER
) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentialsError):
            await accounts.login(
                db, settings, login=login, password="a wrong password", address=address
            )


async def _login(
    db: RequestSession, settings: Settings, login: str = "alice", address: str = ATTACKER
) -> accounts.IssuedToken:
    return await accounts.login(db, settings, login=login, password=PASSWORD, address=address)


async def _counters(db: RequestSession) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(LoginFailure))).scalar_one()


async def _age_counters(db: RequestSession, by: timedelta) -> None:
    """Move the start of every counter's window to `by` ago."""
    async with db.transaction(write=True) as session:
        await session.execute(update(LoginFailure).values(window_started_at=utcnow() - by))


@pytest.mark.usefixtures("alice")
async def test_a_failed_login_stays_counted_although_the_login_fails(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 1)
    async with db.transaction() as session:
        counts = (await session.execute(select(LoginFailure.failures))).scalars().all()
    assert counts == [1, 1, 1]  # the account from this address, the account, the address


@pytest.mark.usefixtures("alice")
async def test_the_sixth_attempt_is_rate_limited_even_with_the_right_password(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    with pytest.raises(RateLimitedError) as caught:
        await _login(db, settings)
    assert 0 < caught.value.retry_after_seconds <= settings.login_failure_window_seconds


@pytest.mark.usefixtures("alice")
async def test_four_failures_do_not_throttle(db: RequestSession, settings: Settings) -> None:
    await _fail(db, settings, "alice", 4)
    assert (await _login(db, settings)).user.username == "alice"


async def test_unknown_accounts_are_throttled_like_known_ones(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "nobody", 5)
    with pytest.raises(RateLimitedError):
        await _login(db, settings, "nobody")


@pytest.mark.usefixtures("alice")
async def test_the_throttle_lifts_when_the_window_has_passed(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    await _age_counters(db, timedelta(seconds=settings.login_failure_window_seconds))
    assert (await _login(db, settings)).user.username == "alice"


@pytest.mark.usefixtures("alice")
async def test_retry_after_counts_to_the_end_of_the_window(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    await _age_counters(db, timedelta(seconds=600))
    with pytest.raises(RateLimitedError) as caught:
        await _login(db, settings)
    assert 290 <= caught.value.retry_after_seconds <= 300


@pytest.mark.usefixtures("alice")
async def test_a_successful_login_clears_the_failures_from_its_address(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 4)
    await _login(db, settings)
    await _fail(db, settings, "alice", 4)
    assert (await _login(db, settings)).user.username == "alice"


@pytest.mark.usefixtures("alice")
async def test_username_and_email_in_any_case_share_one_counter(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 2)
    await _fail(db, settings, "ALICE", 1)
    await _fail(db, settings, "Alice@Example.com", 2)
    with pytest.raises(RateLimitedError):
        await _login(db, settings, "alice@example.com")


async def test_an_email_variant_the_database_lowercases_alike_shares_the_counter(
    unicode_settings: Settings,
) -> None:
    engine = create_engine(unicode_settings)
    db = RequestSession(create_sessionmaker(engine))
    try:
        await accounts.register(
            db, unicode_settings, username="ivy", email="ix@example.com", password=PASSWORD
        )
        await _fail(db, unicode_settings, "İx@example.com", 3)  # lower() makes it ix@...
        await _fail(db, unicode_settings, "ix@example.com", 2)
        with pytest.raises(RateLimitedError):
            await _login(db, unicode_settings, "İx@example.com")
    finally:
        await db.close()
        await engine.dispose()


@pytest.mark.usefixtures("alice")
async def test_the_owner_logs_in_from_another_address_after_an_attackers_failures(
    db: RequestSession, settings: Settings
) -> None:
    await _fail(db, settings, "alice", 5)
    assert (await _login(db, settings, address=OWNER)).user.username == "alice"


@pytest.mark.usefixtures("alice")
async def test_an_account_has_a_ceiling_across_addresses(
    db: RequestSession, settings: Settings
) -> None:
    settings = settings.model_copy(update={"login_max_failures_per_account": 7})
    await _fail(db, settings, "alice", 4, address="203.0.113.1")
    await _fail(db, settings, "alice", 3, address="203.0.113.2")
    with pytest.raises(RateLimitedError):
        await _login(db, settings, address=OWNER)


async def test_an_address_has_a_ceiling_across_accounts(
    db: RequestSession, settings: Settings
) -> None:
    settings = settings.model_copy(update={"login_max_failures_per_address": 6})
    for name in ("ann", "ben", "cat"):
        await _fail(db, settings, name, 2)
    with pytest.raises(RateLimitedError):
        await _login(db, settings, "dan")


async def test_stale_counters_are_swept_by_later_attempts(
    db: RequestSession, settings: Settings
) -> None:
    for name in ("ann", "ben", "cat"):
        await _fail(db, settings, name, 1)
    await _age_counters(db, timedelta(seconds=settings.login_failure_window_seconds + 1))
    await _fail(db, settings, "dan", 1, address=OWNER)
    assert await _counters(db) == 3  # dan's own three; the seven stale ones are gone


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[RequestSession]:
    """A second server's view of the database: its own engine and pool."""
    engine = create_engine(settings)
    session = RequestSession(create_sessionmaker(engine))
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
        await _login(db, settings)


# Over the app: concurrent attempts, and the client address of each request.


async def _mutate(
    client: httpx.AsyncClient,
    document: str,
    fields: dict[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    data = await graphql_data(client, document, {"input": fields}, headers=headers)
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def _register(client: httpx.AsyncClient) -> dict[str, str]:
    fields = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    result = await _mutate(client, REGISTER, fields)
    return bearer_headers(result["token"])


def _wrong_login(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Any:
    fields = {"login": "alice", "password": "a wrong password"}
    return _mutate(client, LOGIN, fields, headers)


async def test_concurrent_wrong_logins_are_checked_at_most_the_limit_times(
    client: httpx.AsyncClient, settings: Settings, verified_hashes: list[str]
) -> None:
    await _register(client)
    results = await asyncio.gather(*(_wrong_login(client) for _ in range(29)))
    assert len(verified_hashes) == settings.login_max_failures
    assert sum(result["__typename"] == "RateLimited" for result in results) == 24
    right = await _mutate(client, LOGIN, {"login": "alice", "password": PASSWORD})
    assert right["__typename"] == "RateLimited"


async def test_concurrent_wrong_current_passwords_are_checked_at_most_the_limit_times(
    client: httpx.AsyncClient, settings: Settings, verified_hashes: list[str]
) -> None:
    stolen = await _register(client)
    wrong = {"currentPassword": "a wrong password", "newPassword": "a new password"}
    await asyncio.gather(*(_mutate(client, CHANGE_PASSWORD, wrong, stolen) for _ in range(29)))
    assert len(verified_hashes) == settings.login_max_failures
    right = {"currentPassword": PASSWORD, "newPassword": "a new password"}
    assert (await _mutate(client, CHANGE_PASSWORD, right, stolen))["__typename"] == "RateLimited"


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(app_with: AppWith) -> None:
    async with app_with(trusted_proxies="127.0.0.1") as client:
        await _register(client)
        for _ in range(5):
            await _wrong_login(client, _from(ATTACKER))
        fields = {"login": "alice", "password": PASSWORD}
        assert (await _mutate(client, LOGIN, fields, _from(OWNER)))["__typename"] == "AuthSuccess"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(app_with: AppWith) -> None:
    async with app_with(trusted_proxies="10.0.0.0/8") as client:
        await _register(client)
        for _ in range(5):
            await _wrong_login(client, _from(ATTACKER))
        fields = {"login": "alice", "password": PASSWORD}
        assert (await _mutate(client, LOGIN, fields, _from(OWNER)))["__typename"] == "RateLimited"
