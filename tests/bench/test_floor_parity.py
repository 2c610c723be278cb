"""The benchmark's floors answer exactly what gql_app answers (bench/floor.py).

Their figures are a limit for gql_app's only if they give the same answers: the same `data`
for every operation, from the floor (only the columns answered, JSON written by orjson) and
from the JSON floor (PostgreSQL writes the answer). Each operation of the benchmark is sent
to gql_app and a floor, on a dataset larger than the pages.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from bench import floor, workload
from bench.database import asyncpg_dsn
from bench.operations import BY_NAME
from gql_app.db import RequestSession
from gql_app.domain.security import hash_token
from gql_app.domain.seed import DEMO_PASSWORD, seed
from gql_app.domain.throttle import Attempt, unknown_account, user_account
from gql_app.graphql.ids import encode_global_id
from tests.support.app import create_legacy_user

pytestmark = [
    pytest.mark.parametrize("backend", ["postgresql"]),
    pytest.mark.usefixtures("seeded"),
]

SMALL_PAGES = {
    "nested": {"users": 5, "posts": 3, "comments": 2},
    "page": {"first": 6, "comments": 2},
}


@pytest.fixture
async def seeded(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=8, posts_per_user=4, comments_per_post=3)


# Both floors, for the operations they answer each in their own way (the login is shared).
BOTH_FLOORS = pytest.mark.parametrize("floor_client", ["floor", "json floor"], indirect=True)


@pytest.fixture
async def floor_client(
    database_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """The floor (`request.param` "json floor" for the JSON floor) in process."""
    monkeypatch.setenv("FLOOR_DATABASE_URL", asyncpg_dsn(database_url))
    json_floor = getattr(request, "param", "floor") == "json floor"
    app = floor.create_json_app() if json_floor else floor.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            yield client


async def _answers(
    client: httpx.AsyncClient,
    floor_client: httpx.AsyncClient,
    operation: str,
    variables: dict[str, Any],
    token: str | None = None,
) -> tuple[Any, Any]:
    op = BY_NAME[operation]
    body = {"query": op.document, "operationName": op.operation_name, "variables": variables}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ours = await client.post("/graphql", json=body, headers=headers)
    theirs = await floor_client.post("/graphql", json=body, headers=headers)
    assert ours.status_code == theirs.status_code == 200
    assert "errors" not in ours.json()
    return ours.json()["data"], theirs.json()["data"]


async def _user_ids(database_url: str) -> tuple[int, ...]:
    return (await workload.read_rows(asyncpg_dsn(database_url))).user_ids


@BOTH_FLOORS
@pytest.mark.parametrize("operation", ["nested", "page"])
async def test_floor_pages_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, operation: str
) -> None:
    ours, theirs = await _answers(client, floor_client, operation, SMALL_PAGES[operation])
    assert ours == theirs


@BOTH_FLOORS
async def test_floor_finds_a_user_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str
) -> None:
    user_id = (await _user_ids(database_url))[3]
    variables = {"id": encode_global_id("User", user_id)}
    ours, theirs = await _answers(client, floor_client, "tiny", variables)
    assert ours == theirs == {"user": {"username": "user00004"}}


@BOTH_FLOORS
async def test_floor_answers_null_for_a_missing_user_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient
) -> None:
    variables = {"id": encode_global_id("User", 10**9)}
    ours, theirs = await _answers(client, floor_client, "tiny", variables)
    assert ours == theirs == {"user": None}


@BOTH_FLOORS
async def test_floor_adds_a_comment_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str
) -> None:
    dsn = asyncpg_dsn(database_url)
    rows = await workload.read_rows(dsn)
    [token] = await workload.sign_in(dsn, rows.user_ids[:1])
    variables = {"input": {"postId": encode_global_id("Post", rows.post_ids[0]), "body": " hi "}}
    ours, theirs = await _answers(client, floor_client, "write", variables, token)
    write = BY_NAME["write"]
    assert write.comparable(ours) == write.comparable(theirs)
    assert ours["addComment"]["comment"]["id"] != theirs["addComment"]["comment"]["id"]


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def _login(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, login: str, password: str
) -> tuple[Any, Any]:
    variables = {"input": {"login": login, "password": password}}
    return await _answers(client, floor_client, "login", variables)


async def _failures(database_url: str, login: str) -> int:
    """The failures counted for `login` (a username, email or nobody) from the test clients."""
    users = await _fetch(
        database_url,
        "SELECT id FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1)",
        login,
    )
    account = user_account(users[0]["id"]) if users else unknown_account(login.lower())
    key = Attempt.of(account, "127.0.0.1").pair
    rows = await _fetch(
        database_url, "SELECT failures FROM login_failures WHERE throttle_key = $1", key
    )
    return rows[0]["failures"] if rows else 0


@pytest.mark.parametrize("login", ["user00002", " USER00002@Example.com "])
async def test_floor_logs_in_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str, login: str
) -> None:
    ours, theirs = await _login(client, floor_client, login, DEMO_PASSWORD)
    assert BY_NAME["login"].comparable(ours) == BY_NAME["login"].comparable(theirs)
    [user] = await _fetch(database_url, "SELECT id FROM users WHERE username = 'user00002'")
    expected_user = {"id": encode_global_id("User", user["id"]), "username": "user00002"}
    assert theirs["login"]["__typename"] == "AuthSuccess"
    assert theirs["login"]["user"] == expected_user
    tokens = await _fetch(
        database_url,
        "SELECT token_hash, expires_at FROM auth_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        user["id"],
    )
    stored = {row["token_hash"]: row["expires_at"] for row in tokens}
    issued = [answer["login"] for answer in (ours, theirs)]
    assert stored == {
        hash_token(token["token"]): datetime.fromisoformat(token["expiresAt"]) for token in issued
    }
    in_14_days = datetime.now(UTC) + timedelta(days=14)
    assert all(abs(expiry - in_14_days) < timedelta(minutes=1) for expiry in stored.values())


@pytest.mark.parametrize("login", ["user00003", "nobody"])
async def test_floor_counts_a_wrong_password_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str, login: str
) -> None:
    ours, theirs = await _login(client, floor_client, login, "not-the-password")
    assert ours == theirs == {"login": {"__typename": "InvalidCredentials"}}
    assert await _failures(database_url, login) == 2


async def test_floor_throttles_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await _login(client, floor_client, "user00004", "not-the-password")
    ours, theirs = await _login(client, floor_client, "user00004", DEMO_PASSWORD)
    assert ours == theirs == {"login": {"__typename": "RateLimited"}}


async def test_floor_login_clears_the_failures_gql_app_counted(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str
) -> None:
    wrong = {"input": {"login": "USER00005@example.com", "password": "not-the-password"}}
    await client.post("/graphql", json={"query": BY_NAME["login"].document, "variables": wrong})
    assert await _failures(database_url, "USER00005@example.com") == 1
    right = {"input": {"login": "user00005", "password": DEMO_PASSWORD}}
    body = {"query": BY_NAME["login"].document, "variables": right}
    answer = (await floor_client.post("/graphql", json=body | {"operationName": "Login"})).json()
    assert answer["data"]["login"]["__typename"] == "AuthSuccess"
    assert await _failures(database_url, "USER00005@example.com") == 0


async def test_floor_rehashes_a_legacy_password_like_gql_app(
    client: httpx.AsyncClient,
    floor_client: httpx.AsyncClient,
    db: RequestSession,
    database_url: str,
) -> None:
    await create_legacy_user(db, "legacy", "legacy-password")
    right = {"input": {"login": "legacy", "password": "legacy-password"}}
    body = {"query": BY_NAME["login"].document, "operationName": "Login", "variables": right}
    answer = (await floor_client.post("/graphql", json=body)).json()
    assert answer["data"]["login"]["__typename"] == "AuthSuccess"
    [user] = await _fetch(database_url, "SELECT password_hash FROM users WHERE username = 'legacy'")
    assert user["password_hash"].startswith("$argon2id$")
    ours = (await client.post("/graphql", json=body)).json()
    assert ours["data"]["login"]["__typename"] == "AuthSuccess"
