"""The account mutations over HTTP: register, login, logout, changePassword, updateProfile,
deleteAccount, and the tokens they hand out, on both backends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from gql_app.db import RequestSession
from gql_app.db.models import AuthToken, User, utcnow
from gql_app.domain import security
from gql_app.domain.security import password_context
from tests.support.app import AppWith, bearer_headers, graphql_data

PASSWORD = "a long enough password"
RESULT = """
  __typename
  ... on AuthSuccess { token expiresAt user { username email } }
  ... on Error { message }
  ... on ValidationError { field }
"""
REGISTER = f"mutation($input: RegisterInput!) {{ register(input: $input) {{ {RESULT} }} }}"
LOGIN = f"""mutation($input: LoginInput!) {{ login(input: $input) {{ {RESULT}
  ... on RateLimited {{ retryAfterSeconds }} }} }}"""
LOGOUT = """mutation { logout {
  __typename ... on LogoutSuccess { tokenRevoked } ... on Error { message } } }"""
CHANGE_PASSWORD = """mutation($input: ChangePasswordInput!) { changePassword(input: $input) {
  __typename ... on ChangePasswordSuccess { revokedTokenCount user { username } }
  ... on Error { message } ... on ValidationError { field } } }"""
UPDATE_PROFILE = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
  __typename ... on UpdateProfileSuccess { user { username email } }
  ... on Error { message } ... on ValidationError { field } } }"""
DELETE_ACCOUNT = """mutation($input: DeleteAccountInput!) { deleteAccount(input: $input) {
  __typename ... on DeleteAccountSuccess { deletedUserId } ... on Error { message } } }"""
ME = "{ me { id username email } }"
NO_ONE: dict[str, str] = {}


async def register(
    client: httpx.AsyncClient, username: str = "alice", email: str | None = None
) -> dict[str, Any]:
    fields = {"username": username, "email": email or f"{username}@example.com"}
    data = await graphql_data(client, REGISTER, {"input": fields | {"password": PASSWORD}})
    result: dict[str, Any] = data["register"]
    return result


async def login(
    client: httpx.AsyncClient, login: str = "alice", password: str = PASSWORD
) -> dict[str, Any]:
    data = await graphql_data(client, LOGIN, {"input": {"login": login, "password": password}})
    result: dict[str, Any] = data["login"]
    return result


async def signed_up(client: httpx.AsyncClient, username: str = "alice") -> dict[str, str]:
    """Register `username`; the headers that authenticate as them."""
    result = await register(client, username)
    assert result["__typename"] == "AuthSuccess", result
    return bearer_headers(result["token"])


async def signed_in(client: httpx.AsyncClient, login_: str = "alice") -> dict[str, str]:
    result = await login(client, login_)
    assert result["__typename"] == "AuthSuccess", result
    return bearer_headers(result["token"])


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await graphql_data(client, ME, headers=headers))["me"]
    return found


async def mutate(
    client: httpx.AsyncClient, operation: str, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    variables = {"input": fields} if fields else None
    data = await graphql_data(client, operation, variables, headers=headers)
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


async def _user_count(db: RequestSession) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


# register


async def test_register_returns_the_user_a_token_and_its_expiry(
    client: httpx.AsyncClient,
) -> None:
    result = await register(client)
    assert result["__typename"] == "AuthSuccess"
    assert result["user"]["username"] == "alice"
    assert len(result["token"]) >= 43  # 256 bits of url-safe base64
    expires_at = datetime.fromisoformat(result["expiresAt"])
    assert abs(expires_at - (utcnow() + timedelta(days=14))) < timedelta(minutes=1)


async def test_register_and_login_payloads_show_the_user_their_own_email(
    client: httpx.AsyncClient,
) -> None:
    assert (await register(client, email="Alice@Example.com"))["user"]["email"] == (
        "Alice@Example.com"
    )
    assert (await login(client))["user"]["email"] == "Alice@Example.com"


async def test_the_token_of_register_signs_in_later_requests(client: httpx.AsyncClient) -> None:
    headers = await signed_up(client)
    found = await me(client, headers)
    assert found is not None
    assert (found["username"], found["email"]) == ("alice", "alice@example.com")


async def test_register_refuses_a_taken_username(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    result = await register(client, "alice", email="other@example.com")
    assert result["__typename"] == "UsernameTaken"


@pytest.mark.parametrize("variant", ["Admin", "ADMIN"])
async def test_register_refuses_a_username_taken_in_another_case(
    client: httpx.AsyncClient, variant: str
) -> None:
    await signed_up(client, "admin")
    result = await register(client, variant, email="other@example.com")
    assert result["__typename"] == "UsernameTaken"


async def test_a_username_keeps_the_case_it_was_registered_in(client: httpx.AsyncClient) -> None:
    found = await me(client, await signed_up(client, "McAdmin"))
    assert found is not None
    assert found["username"] == "McAdmin"


async def test_register_refuses_an_email_taken_in_another_case(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    result = await register(client, "alice2", email="ALICE@Example.COM")
    assert result["__typename"] == "EmailTaken"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "al"}, "username", "Username must be 3 to 50 characters long (it has 2)."),
        (
            {"username": "al-ice"},
            "username",
            "Username may contain only letters (a-z, A-Z), digits and underscores.",
        ),
        ({"email": "not-an-email"}, "email", "Email must be a valid email address"),
        ({"email": "a" * 110 + "@example.com"}, "email", "Email must be at most 120 characters"),
        (
            {"password": "short"},
            "password",
            "Password must be 8 to 128 characters long (it has 5).",
        ),
        (
            {"password": "p" * 129},
            "password",
            "Password must be 8 to 128 characters long (it has 129).",
        ),
    ],
)
async def test_register_explains_invalid_input_and_creates_nothing(
    client: httpx.AsyncClient, db: RequestSession, fields: dict[str, str], field: str, message: str
) -> None:
    valid = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    data = await graphql_data(client, REGISTER, {"input": valid | fields})
    result = data["register"]
    assert (result["__typename"], result["field"]) == ("ValidationError", field)
    assert result["message"].startswith(message)
    assert await _user_count(db) == 0


async def _register_all(
    client: httpx.AsyncClient, accounts: list[tuple[str, str]]
) -> list[httpx.Response]:
    async def one(username: str, email: str) -> httpx.Response:
        fields = {"username": username, "email": email, "password": PASSWORD}
        return await client.post(
            "/graphql", json={"query": REGISTER, "variables": {"input": fields}}
        )

    return await asyncio.gather(*(one(username, email) for username, email in accounts))


def _outcomes(responses: list[httpx.Response]) -> list[str]:
    assert {response.status_code for response in responses} == {200}
    bodies = [response.json() for response in responses]
    assert all("errors" not in body for body in bodies), bodies
    return sorted(body["data"]["register"]["__typename"] for body in bodies)


# Room in the hashing queue for all 50 at once: these tests are about the unique constraints.
ALL_FIFTY_HASH = {"password_hash_concurrency": 25}


async def test_fifty_concurrent_registrations_of_one_username_make_one_user(
    app_with: AppWith, db: RequestSession
) -> None:
    accounts = [("same", f"u{i}@example.com") for i in range(50)]
    async with app_with(**ALL_FIFTY_HASH) as client:
        responses = await _register_all(client, accounts)
    assert _outcomes(responses) == ["AuthSuccess"] + ["UsernameTaken"] * 49
    assert await _user_count(db) == 1


def _capitalizations(word: str = "concurrent") -> list[str]:
    """50 spellings of `word` differing only in case (10 letters: 1024 ways)."""
    return ["".join(c.upper() if i >> n & 1 else c for n, c in enumerate(word)) for i in range(50)]


async def test_fifty_concurrent_registrations_of_one_username_in_any_case_make_one_user(
    app_with: AppWith, db: RequestSession
) -> None:
    names = _capitalizations()
    async with app_with(**ALL_FIFTY_HASH) as client:
        responses = await _register_all(
            client, [(name, f"u{i}@example.com") for i, name in enumerate(names)]
        )
    assert _outcomes(responses) == ["AuthSuccess"] + ["UsernameTaken"] * 49
    assert await _user_count(db) == 1


async def test_fifty_concurrent_registrations_of_one_email_in_any_case_make_one_user(
    app_with: AppWith, db: RequestSession
) -> None:
    emails = [local + "@example.com" for local in _capitalizations()]
    async with app_with(**ALL_FIFTY_HASH) as client:
        responses = await _register_all(client, [(f"user{i}", e) for i, e in enumerate(emails)])
    assert len(set(emails)) == 50
    assert _outcomes(responses) == ["AuthSuccess"] + ["EmailTaken"] * 49
    assert await _user_count(db) == 1


# login


async def test_login_with_the_username_in_another_case_succeeds(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    assert (await login(client, "ALICE"))["__typename"] == "AuthSuccess"


async def test_login_with_the_username_gives_a_working_token(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    result = await login(client, "alice")
    assert result["__typename"] == "AuthSuccess"
    assert datetime.fromisoformat(result["expiresAt"]) > utcnow() + timedelta(days=13)
    assert await me(client, bearer_headers(result["token"])) is not None


async def test_login_with_the_email_in_any_case_gives_a_working_token(
    client: httpx.AsyncClient,
) -> None:
    await signed_up(client)
    headers = await signed_in(client, "ALICE@example.com")
    assert (await me(client, headers) or {}).get("username") == "alice"


async def test_every_login_gets_a_token_of_its_own(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    assert (await signed_in(client)) != (await signed_in(client))


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await signed_up(client)
    wrong_password = await login(client, "alice", "not the password")
    unknown_user = await login(client, "nobody", "not the password")
    assert wrong_password == unknown_user
    assert wrong_password == {
        "__typename": "InvalidCredentials",
        "message": "The login or the password is wrong.",
    }


async def test_an_unknown_user_costs_the_same_hash_verification_as_a_known_one(
    client: httpx.AsyncClient, verified_hashes: list[str]
) -> None:
    await signed_up(client)
    verified_hashes.clear()
    await login(client, "alice", "not the password")
    await login(client, "nobody", "not the password")
    assert len(verified_hashes) == 2
    known, unknown = verified_hashes
    assert known != unknown
    assert known.split("$")[:4] == unknown.split("$")[:4]  # argon2id, same version and cost


async def test_the_sixth_login_after_five_failures_is_rate_limited_with_a_retry_time(
    client: httpx.AsyncClient,
) -> None:
    await signed_up(client)
    for _ in range(5):
        assert (await login(client, "alice", "wrong password"))[
            "__typename"
        ] == "InvalidCredentials"
    result = await login(client, "alice", PASSWORD)
    assert result["__typename"] == "RateLimited"
    assert 0 < result["retryAfterSeconds"] <= 900
    assert str(result["retryAfterSeconds"]) in result["message"]


async def test_logins_hash_off_the_event_loop_so_a_cheap_query_is_answered_meanwhile(
    app_with: AppWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four logins block inside the password check until a cheap query has been answered:
    were hashing on the event loop, the query could not be served and the gate would time out."""
    async with app_with(password_hash_concurrency=4) as client:
        await _four_logins_hash_while_a_query_is_answered(client, monkeypatch)


async def _four_logins_hash_while_a_query_is_answered(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_up(client)
    loop = asyncio.get_running_loop()
    all_hashing = asyncio.Event()
    answered = threading.Event()
    hashing: list[int] = []
    verify = password_context.verify

    def gated(secret: str | bytes, stored: str, **kwargs: Any) -> bool:
        hashing.append(1)
        if len(hashing) == 4:
            loop.call_soon_threadsafe(all_hashing.set)
        assert answered.wait(timeout=30), "the cheap query was not answered while logins hashed"
        return verify(secret, stored, **kwargs)

    monkeypatch.setattr(password_context, "verify", gated)
    logins = [asyncio.create_task(login(client)) for _ in range(4)]
    await asyncio.wait_for(all_hashing.wait(), timeout=30)
    cheap = await graphql_data(client, "{ __typename }")
    pending = sum(not task.done() for task in logins)
    answered.set()
    results = await asyncio.gather(*logins)
    assert cheap == {"__typename": "Query"}
    assert pending == 4
    assert [result["__typename"] for result in results] == ["AuthSuccess"] * 4


@asynccontextmanager
async def full_hash_queue(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[str]]:
    """With PASSWORD_HASH_CONCURRENCY=1: one login hashing (held inside the check) and one
    waiting for the thread, all the queue holds; yields the hashes verified meanwhile."""
    release = threading.Event()
    verified: list[str] = []
    verify = password_context.verify

    def held(secret: str | bytes, stored: str, **kwargs: Any) -> bool:
        verified.append(stored)
        assert release.wait(timeout=30), "the test did not release the held logins"
        return verify(secret, stored, **kwargs)

    monkeypatch.setattr(password_context, "verify", held)
    queued = [asyncio.create_task(login(client, "nobody", "not the password")) for _ in range(2)]
    try:
        for _ in range(1000):  # a bounded wait (about 10 s) for both logins to enter the queue
            if security.hash_queue.taken >= 2:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the two logins did not fill the hashing queue")
        yield verified
    finally:
        release.set()
        outcomes = await asyncio.gather(*queued)
    assert [outcome["__typename"] for outcome in outcomes] == ["InvalidCredentials"] * 2


BUSY = {
    "__typename": "RateLimited",
    "message": "The server is busy checking passwords: try again in 1 second.",
    "retryAfterSeconds": 1,
}


async def test_a_login_past_the_hashing_queue_is_rate_limited_at_once_without_hashing(
    app_with: AppWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with(password_hash_concurrency=1) as client:
        await signed_up(client)
        async with full_hash_queue(client, monkeypatch) as verified:
            refused = await login(client)
            hashed_meanwhile = len(verified)
    assert refused == BUSY
    assert hashed_meanwhile == 1  # the login that holds the thread; none for the refused one


async def test_a_registration_past_the_hashing_queue_is_rate_limited_and_creates_nothing(
    app_with: AppWith, db: RequestSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        app_with(password_hash_concurrency=1) as client,
        full_hash_queue(client, monkeypatch),
    ):
        refused = await register(client, "bob")
    assert refused == {"__typename": "RateLimited", "message": BUSY["message"]}
    assert await _user_count(db) == 0


async def test_a_login_refused_for_a_full_hashing_queue_is_no_failed_attempt(
    app_with: AppWith, db: RequestSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with(password_hash_concurrency=1) as client:
        await signed_up(client)
        async with full_hash_queue(client, monkeypatch):
            for _ in range(5):
                assert await login(client, "alice", "wrong password") == BUSY
        assert (await login(client))["__typename"] == "AuthSuccess"


# tokens


async def _expire_tokens(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))


async def test_an_expired_token_is_not_authenticated(
    client: httpx.AsyncClient, db: RequestSession
) -> None:
    headers = await signed_up(client)
    await _expire_tokens(db)
    assert (await mutate(client, LOGOUT, headers))["__typename"] == "NotAuthenticated"
    assert await me(client, headers) is None


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer unknown-token",
        "Bearer " + "x" * 300,
        "Bearer",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOjF9.",
        "Bearer ' OR 1=1 --",
    ],
)
async def test_unknown_or_malformed_tokens_are_not_authenticated(
    client: httpx.AsyncClient, authorization: str
) -> None:
    await signed_up(client)
    headers = {"Authorization": authorization}
    result = await mutate(client, LOGOUT, headers)
    assert result["__typename"] == "NotAuthenticated"
    assert "Authorization: Bearer" in result["message"]
    assert await me(client, headers) is None


@pytest.mark.parametrize(
    ("operation", "fields"),
    [
        (LOGOUT, {}),
        (CHANGE_PASSWORD, {"currentPassword": PASSWORD, "newPassword": "another password"}),
        (UPDATE_PROFILE, {"username": "mallory"}),
        (DELETE_ACCOUNT, {"password": PASSWORD}),
    ],
)
async def test_mutations_of_the_viewer_need_a_signed_in_user(
    client: httpx.AsyncClient, operation: str, fields: dict[str, str]
) -> None:
    await signed_up(client)
    result = await mutate(client, operation, NO_ONE, **fields)
    assert result["__typename"] == "NotAuthenticated"


# logout


async def test_logout_revokes_the_presented_token_only(client: httpx.AsyncClient) -> None:
    first = await signed_up(client)
    second = await signed_in(client)
    assert await mutate(client, LOGOUT, first) == {
        "__typename": "LogoutSuccess",
        "tokenRevoked": True,
    }
    assert await me(client, first) is None
    assert (await mutate(client, LOGOUT, first))["__typename"] == "NotAuthenticated"
    assert await me(client, second) is not None


# changePassword


async def test_change_password_revokes_every_other_token_and_keeps_this_one(
    client: httpx.AsyncClient,
) -> None:
    current = await signed_up(client)
    others = [await signed_in(client), await signed_in(client)]
    result = await mutate(
        client, CHANGE_PASSWORD, current, currentPassword=PASSWORD, newPassword="a new password"
    )
    assert result == {
        "__typename": "ChangePasswordSuccess",
        "revokedTokenCount": 2,
        "user": {"username": "alice"},
    }
    assert await me(client, current) is not None
    assert [await me(client, headers) for headers in others] == [None, None]


async def test_after_a_password_change_only_the_new_password_logs_in(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    await mutate(
        client, CHANGE_PASSWORD, headers, currentPassword=PASSWORD, newPassword="a new password"
    )
    assert (await login(client, "alice", PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await login(client, "alice", "a new password"))["__typename"] == "AuthSuccess"


async def test_change_password_with_a_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    other = await signed_in(client)
    result = await mutate(
        client, CHANGE_PASSWORD, headers, currentPassword="wrong password", newPassword="new one!"
    )
    assert result["__typename"] == "InvalidCredentials"
    assert await me(client, other) is not None
    assert (await login(client, "alice", PASSWORD))["__typename"] == "AuthSuccess"


async def test_change_password_explains_a_too_short_new_password(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    result = await mutate(
        client, CHANGE_PASSWORD, headers, currentPassword=PASSWORD, newPassword="short"
    )
    assert (result["__typename"], result["field"]) == ("ValidationError", "newPassword")
    assert result["message"] == "New password must be 8 to 128 characters long (it has 5)."


async def test_wrong_current_passwords_are_throttled_like_logins(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    for _ in range(5):
        await mutate(
            client, CHANGE_PASSWORD, headers, currentPassword="wrong password", newPassword="x" * 9
        )
    result = await mutate(
        client, CHANGE_PASSWORD, headers, currentPassword=PASSWORD, newPassword="x" * 9
    )
    assert result["__typename"] == "RateLimited"


# updateProfile


async def test_update_profile_changes_username_and_email(client: httpx.AsyncClient) -> None:
    headers = await signed_up(client)
    result = await mutate(
        client, UPDATE_PROFILE, headers, username="alicia", email="alicia@example.org"
    )
    assert result == {
        "__typename": "UpdateProfileSuccess",
        "user": {"username": "alicia", "email": "alicia@example.org"},
    }
    assert (await login(client, "alicia"))["__typename"] == "AuthSuccess"


async def test_update_profile_keeps_the_fields_left_out(client: httpx.AsyncClient) -> None:
    headers = await signed_up(client)
    result = await mutate(client, UPDATE_PROFILE, headers, email="new@example.org")
    assert result["user"] == {"username": "alice", "email": "new@example.org"}


async def test_update_profile_can_change_only_the_case_of_the_own_email(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    result = await mutate(client, UPDATE_PROFILE, headers, email="ALICE@example.com")
    assert result["user"]["email"] == "ALICE@example.com"


@pytest.mark.parametrize(
    ("fields", "typename"),
    [
        ({"username": "bob"}, "UsernameTaken"),
        ({"username": "Bob"}, "UsernameTaken"),
        ({"email": "BOB@example.com"}, "EmailTaken"),
    ],
)
async def test_update_profile_refuses_what_another_user_holds(
    client: httpx.AsyncClient, fields: dict[str, str], typename: str
) -> None:
    headers = await signed_up(client)
    await signed_up(client, "bob")
    result = await mutate(client, UPDATE_PROFILE, headers, **fields)
    assert result["__typename"] == typename
    found = await me(client, headers)
    assert found is not None
    assert (found["username"], found["email"]) == ("alice", "alice@example.com")


async def test_a_later_field_of_the_request_sees_the_profile_an_earlier_one_changed(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_up(client)
    # The second field keeps the username it does not give: the one the first just wrote.
    both = """mutation {
      first: updateProfile(input: {username: "alicia"}) { __typename }
      second: updateProfile(input: {email: "alicia@example.org"}) {
        ... on UpdateProfileSuccess { user { username email } } } }"""
    data = await graphql_data(client, both, headers=headers)
    assert data["second"]["user"] == {"username": "alicia", "email": "alicia@example.org"}


async def test_update_profile_explains_invalid_input(client: httpx.AsyncClient) -> None:
    headers = await signed_up(client)
    result = await mutate(client, UPDATE_PROFILE, headers, username="no spaces allowed")
    assert (result["__typename"], result["field"]) == ("ValidationError", "username")


# deleteAccount


async def test_delete_account_removes_the_user_and_their_tokens(
    client: httpx.AsyncClient, db: RequestSession
) -> None:
    headers = await signed_up(client)
    user_id = (await me(client, headers) or {})["id"]
    result = await mutate(client, DELETE_ACCOUNT, headers, password=PASSWORD)
    assert result == {"__typename": "DeleteAccountSuccess", "deletedUserId": user_id}
    assert await _user_count(db) == 0
    assert await me(client, headers) is None
    assert (await login(client))["__typename"] == "InvalidCredentials"


async def test_delete_account_with_a_wrong_password_deletes_nothing(
    client: httpx.AsyncClient, db: RequestSession
) -> None:
    headers = await signed_up(client)
    result = await mutate(client, DELETE_ACCOUNT, headers, password="not the password")
    assert result["__typename"] == "InvalidCredentials"
    assert await _user_count(db) == 1


# permissions


async def test_the_email_of_a_user_is_shown_to_themself_only(client: httpx.AsyncClient) -> None:
    alice = await signed_up(client)
    bob = await signed_up(client, "bob")
    query = '{ userByUsername(username: "alice") { email } }'
    assert (await graphql_data(client, query, headers=alice))["userByUsername"]["email"] == (
        "alice@example.com"
    )
    assert (await graphql_data(client, query, headers=bob))["userByUsername"]["email"] is None
    assert (await graphql_data(client, query))["userByUsername"]["email"] is None
