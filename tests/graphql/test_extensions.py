"""Every error answered before execution carries an `extensions.code` (PreExecutionCodes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gql_app.graphql.transport.http import GRAPHQL_RESPONSE_JSON
from tests.support.app import AppWith, AuthUser, MakeUser

USER = "query User($id: ID!) { user(id: $id) { id } }"
TWO = "query A { me { id } } query B { __typename }"


async def _codes(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200
    assert "data" not in response.json()
    return [error["extensions"]["code"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ me {"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": USER, "variables": {"id": None}}, "BAD_USER_INPUT"),
        ({"query": USER, "variables": {"id": ["a list"]}}, "BAD_USER_INPUT"),
        ({"query": USER}, "BAD_USER_INPUT"),
        ({"query": TWO, "operationName": "C"}, "OPERATION_RESOLUTION_FAILURE"),
        ({"query": TWO}, "OPERATION_RESOLUTION_FAILURE"),
        ({"query": "fragment F on User { id }"}, "OPERATION_RESOLUTION_FAILURE"),
        ({"query": "subscription { postAdded { id } }"}, "BAD_REQUEST"),
    ],
    ids=[
        "syntax",
        "unknown field",
        "explicit null for a non-null variable",
        "a variable of the wrong type",
        "a missing variable",
        "unknown operationName",
        "several operations, none named",
        "no operation",
        "a subscription (it streams: not as one HTTP result)",
    ],
)
async def test_a_pre_execution_error_has_its_code(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    assert await _codes(client, body) == [code]


async def test_the_same_error_seen_again_has_the_same_code(client: httpx.AsyncClient) -> None:
    """The second time, the parse and validation caches (and the fast path) answer."""
    for body in ({"query": "{ me {"}, {"query": "{ noSuchField }"}, {"query": TWO}):
        assert await _codes(client, body) == await _codes(client, body)


async def test_a_query_limit_keeps_its_own_code(app_with: AppWith) -> None:
    deep = "{ me { posts { edges { node { id } } } } }"
    async with app_with(query_max_depth=3) as client:
        assert await _codes(client, {"query": deep}) == ["QUERY_TOO_DEEP"]


async def test_several_operations_none_named_run_none(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice: AuthUser = await make_user("alice")
    document = (
        'mutation Write { createPost(input: {title: "T", body: "B"}) { __typename } }'
        " query Read { me { posts(first: 1) { edges { node { id } } } } }"
    )
    refused = await client.post("/graphql", json={"query": document}, headers=alice.headers)
    assert refused.json()["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    read = await client.post(
        "/graphql", json={"query": document, "operationName": "Read"}, headers=alice.headers
    )
    assert read.json()["data"] == {"me": {"posts": {"edges": []}}}


async def test_a_request_error_is_400_with_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": TWO}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"


async def test_a_mutation_over_get_is_405_method_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { logout }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
