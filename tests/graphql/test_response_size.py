"""`MAX_RESPONSE_BYTES` (gql_app/graphql/response_size.py): a response over it is stopped while
it is built, with one `RESPONSE_TOO_LARGE` error and no data, on every execution path."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gql_app.graphql.http import GRAPHQL_RESPONSE_JSON
from gql_app.graphql.response_size import json_size
from tests.conftest import AppWith, MakeComment, MakePost, MakeUser

STRICT = {"Accept": GRAPHQL_RESPONSE_JSON}
LIMIT = 8 * 1024 * 1024  # the default
COMMENTS = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Post { comments(first: 100) { edges { node { body } } } } } }"


@pytest.fixture
async def long_post(make_user: MakeUser, make_post: MakePost, make_comment: MakeComment) -> str:
    """The issue's post: 100 comments of 10,000 characters; its id."""
    author = await make_user("writer")
    post_id = await make_post(author)
    for minute in range(100):
        await make_comment(author, post_id, "x" * 10_000, minute=minute)
    return post_id


async def post(client: httpx.AsyncClient, ids: list[str]) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": COMMENTS, "variables": {"ids": ids}}, headers=STRICT
    )


def assert_too_large(response: httpx.Response, limit: int = LIMIT) -> None:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "RESPONSE_TOO_LARGE"}
    assert error["message"] == (
        f"The response is larger than the limit MAX_RESPONSE_BYTES={limit} bytes."
    )


async def test_the_issues_hundred_megabyte_request_is_refused_as_too_large(
    client: httpx.AsyncClient, long_post: str
) -> None:
    # Its cost counts the repeated id once: 1 + 1 * (1 + 1 + 100 * (1 + 1 + 1)) = 303.
    assert_too_large(await post(client, [long_post] * 100))


async def test_the_fast_path_refuses_a_too_large_response_of_a_query_it_has_seen(
    client: httpx.AsyncClient, long_post: str
) -> None:
    admitted = await post(client, [long_post])  # 1 MB: admitted, and now validated
    assert len(admitted.json()["data"]["nodes"][0]["comments"]["edges"]) == 100
    assert_too_large(await post(client, [long_post] * 100))


async def test_stock_execution_refuses_a_too_large_response(
    app_with: AppWith, long_post: str
) -> None:
    async with app_with(compiled_execution=False) as client:
        assert_too_large(await post(client, [long_post] * 100))


async def test_a_response_under_the_limit_is_answered(app_with: AppWith, long_post: str) -> None:
    async with app_with(max_response_bytes=2_000_000) as client:
        response = await post(client, [long_post])
        assert "errors" not in response.json()
        assert_too_large(await post(client, [long_post] * 2), 2_000_000)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "\x00\x1f",
        "\u00e9\U0001f600",
        "x" * 63,
        '"\\\n' * 30,
        "\x01" * 100,
        1,
        -(2**63),
        1.5e-308,
        True,
        None,
    ],
)
def test_a_leaf_is_never_counted_below_its_encoded_size(value: Any) -> None:
    assert json_size(value) >= len(orjson.dumps(value))
