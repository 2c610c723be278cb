"""The benchmark's floor server answers exactly what gql_app answers (bench/floor.py).

Its figures are only a floor for gql_app's if it does the same work: same statements, same
JSON. Each operation of the benchmark is sent to both, on a dataset larger than the pages.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench import floor, workload
from bench.database import asyncpg_dsn
from bench.operations import BY_NAME
from gql_app.db import RequestSession
from gql_app.graphql.ids import encode_global_id
from gql_app.seed import seed

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


@pytest.fixture
async def floor_client(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("FLOOR_DATABASE_URL", asyncpg_dsn(database_url))
    app = floor.create_app()
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


@pytest.mark.parametrize("operation", ["nested", "page"])
async def test_floor_pages_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, operation: str
) -> None:
    ours, theirs = await _answers(client, floor_client, operation, SMALL_PAGES[operation])
    assert ours == theirs


async def test_floor_finds_a_user_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str
) -> None:
    user_id = (await _user_ids(database_url))[3]
    variables = {"id": encode_global_id("User", user_id)}
    ours, theirs = await _answers(client, floor_client, "tiny", variables)
    assert ours == theirs == {"user": {"username": "user00004"}}


async def test_floor_answers_null_for_a_missing_user_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient
) -> None:
    variables = {"id": encode_global_id("User", 10**9)}
    ours, theirs = await _answers(client, floor_client, "tiny", variables)
    assert ours == theirs == {"user": None}


def _without_comment_id(data: dict[str, Any]) -> dict[str, Any]:
    comment = data["addComment"]["comment"]
    return {"addComment": data["addComment"] | {"comment": comment | {"id": None}}}


async def test_floor_adds_a_comment_like_gql_app(
    client: httpx.AsyncClient, floor_client: httpx.AsyncClient, database_url: str
) -> None:
    dsn = asyncpg_dsn(database_url)
    rows = await workload.read_rows(dsn)
    [token] = await workload.sign_in(dsn, rows.user_ids[:1])
    variables = {"input": {"postId": encode_global_id("Post", rows.post_ids[0]), "body": " hi "}}
    ours, theirs = await _answers(client, floor_client, "write", variables, token)
    assert _without_comment_id(ours) == _without_comment_id(theirs)
    assert ours["addComment"]["comment"]["id"] != theirs["addComment"]["comment"]["id"]
