"""Limits against hostile queries: each admits what is under it (and reports the cost), refuses
what is over it with an error naming the limit, and leaves the server answering.

The limits do not touch the database: these tests run on SQLite only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.types import Message

from bench.operations import NESTED
from gql_app.config import load_settings
from gql_app.graphql.http import GRAPHQL_RESPONSE_JSON
from tests.conftest import AppWith, graphql_post_scope, running_app

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

STRICT = {"Accept": GRAPHQL_RESPONSE_JSON}
# The nested benchmark operation, fields as few as it can have.
BENCHMARK = """{ users(first: 50) { edges { node { posts(first: 10) { edges { node {
  comments(first: 5) { edges { node { author { username } } } } } } } } } } }"""
WELCOME = "{ __typename }"


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=STRICT
    )


def refusal(response: httpx.Response) -> dict[str, Any]:
    """The one error of a request refused before it ran (400, no data)."""
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert "data" not in body
    [error] = body["errors"]
    return error  # type: ignore[no-any-return]


async def assert_still_answering(client: httpx.AsyncClient) -> None:
    response = await post(client, WELCOME)
    assert (response.status_code, response.json()["data"]) == (200, {"__typename": "Query"})


def deep(depth: int) -> str:
    """A query exactly `depth` fields deep (`__type`, then `ofType` in `ofType`, then `name`)."""
    return '{ __type(name: "User") { ' + "ofType { " * (depth - 2) + "name" + " }" * depth


async def test_the_benchmark_operation_is_admitted_and_its_cost_reported(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, BENCHMARK)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert body["extensions"] == {"cost": {"requested": 11_651, "limit": 50_000}}


async def test_the_load_benchmark_operation_is_admitted_with_its_variables(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, NESTED, {"users": 50, "posts": 10, "comments": 5})
    body = response.json()
    assert "errors" not in body
    assert body["extensions"]["cost"] == {"requested": 20_251, "limit": 50_000}


async def test_a_connection_without_first_or_last_costs_a_default_page(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, "{ users { edges { node { username } } } }")
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 20 * 3


async def test_a_list_of_ids_costs_once_per_id(client: httpx.AsyncClient) -> None:
    response = await post(client, '{ nodes(ids: ["a", "b", "c"]) { id } }')
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 3 * 1


async def test_fragments_cost_as_if_written_out(client: httpx.AsyncClient) -> None:
    query = """{ users(first: 2) { ...Page } }
      fragment Page on UserConnection { edges { node { ...Name ...Name } } }
      fragment Name on User { username }"""
    response = await post(client, query)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 2 * (1 + 1 + 2)


async def test_a_query_over_the_cost_limit_is_refused_naming_it(app_with: AppWith) -> None:
    async with app_with(query_max_cost=11_650) as client:
        error = refusal(await post(client, BENCHMARK))
        assert error["extensions"] == {"code": "QUERY_TOO_COSTLY"}
        assert "11651" in error["message"]
        assert "QUERY_MAX_COST=11650" in error["message"]
        await assert_still_answering(client)


async def test_variables_count_towards_the_cost(client: httpx.AsyncClient) -> None:
    query = (
        "query($n: Int) { users(first: $n) { edges { node { posts(first: $n) { totalCount } } } } }"
    )
    error = refusal(await post(client, query, {"n": 1_000}))
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY"}
    await assert_still_answering(client)


async def test_the_default_depth_admits_the_benchmark_and_graphiqls_introspection(
    client: httpx.AsyncClient,
) -> None:
    for query in (BENCHMARK, get_introspection_query(descriptions=True)):
        response = await post(client, query)
        assert "errors" not in response.json()


async def test_a_query_at_the_depth_limit_is_admitted(app_with: AppWith) -> None:
    async with app_with(query_max_depth=8) as client:
        response = await post(client, deep(8))
        assert "errors" not in response.json(), response.json()


async def test_a_query_over_the_depth_limit_is_refused_naming_it(app_with: AppWith) -> None:
    async with app_with(query_max_depth=8) as client:
        error = refusal(await post(client, deep(9)))
        assert error["extensions"] == {"code": "QUERY_TOO_DEEP"}
        assert "depth 9" in error["message"]
        assert "QUERY_MAX_DEPTH=8" in error["message"]
        await assert_still_answering(client)


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


async def test_aliases_up_to_the_limit_are_admitted(client: httpx.AsyncClient) -> None:
    response = await post(client, aliased(30))
    assert response.status_code == 200
    assert len(response.json()["data"]) == 30


async def test_aliases_over_the_limit_are_refused_naming_it(client: httpx.AsyncClient) -> None:
    error = refusal(await post(client, aliased(31)))
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES"}
    assert "QUERY_MAX_ALIASES=30" in error["message"]
    await assert_still_answering(client)


async def test_aliases_in_a_fragment_count_at_each_spread(client: httpx.AsyncClient) -> None:
    query = "{ ...F ...F } fragment F on Query { " + aliased(16)[2:-2] + " }"
    error = refusal(await post(client, query))
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES"}


def tokens(count: int) -> str:
    """A document of exactly `count` lexical tokens (`count` odd, from 3)."""
    return "{ " + "__typename " * (count - 2) + "}"


async def test_a_document_at_the_token_limit_is_admitted(app_with: AppWith) -> None:
    async with app_with(query_max_tokens=101) as client:
        response = await post(client, tokens(101))
        assert response.json()["data"] == {"__typename": "Query"}


async def test_a_document_over_the_token_limit_is_refused_naming_it(app_with: AppWith) -> None:
    async with app_with(query_max_tokens=101) as client:
        error = refusal(await post(client, tokens(103)))
        assert error["extensions"] == {"code": "TOO_MANY_TOKENS"}
        assert "QUERY_MAX_TOKENS=101" in error["message"]
        await assert_still_answering(client)


async def test_comments_do_not_count_as_tokens(app_with: AppWith) -> None:
    async with app_with(query_max_tokens=101) as client:
        response = await post(client, "# note\n" * 200 + tokens(101))
        assert response.json()["data"] == {"__typename": "Query"}


async def test_fields_repeated_by_fragments_are_admitted(client: httpx.AsyncClient) -> None:
    query = """{ users(first: 1) { edges { node { id ...A ...B } } } }
      fragment A on User { id username } fragment B on User { id username }"""
    response = await post(client, query)
    assert "errors" not in response.json()


async def test_a_field_repeated_hundreds_of_times_is_refused_naming_the_budget(
    client: httpx.AsyncClient,
) -> None:
    # Under every other limit (`totalCount` would cost a scan each); graphql-core's own budget
    # would let it run for seconds.
    query = "{ " + "users(first: 1) { __typename } " * 200 + "}"
    error = refusal(await post(client, query))
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert "QUERY_VALIDATION_BUDGET=20000" in error["message"]
    await assert_still_answering(client)


async def test_a_body_over_the_size_limit_is_413_naming_it(client: httpx.AsyncClient) -> None:
    query = "{ __typename }" + " " * 102_400
    response = await post(client, query)
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "The request body is larger than MAX_REQUEST_BYTES=102400 bytes.",
                "extensions": {"code": "REQUEST_TOO_LARGE"},
            }
        ]
    }
    await assert_still_answering(client)


async def test_a_streamed_body_is_refused_without_reading_it_all(
    client: httpx.AsyncClient,
) -> None:
    sent = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):  # 6.4 MB, chunked: no Content-Length
            sent.append(64 * 1024)
            yield b" " * (64 * 1024)

    response = await client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert sum(sent) <= 102_400 + 64 * 1024


async def test_a_declared_length_over_the_limit_is_refused_unread(database_url: str) -> None:
    app_settings = load_settings(database_url=database_url)
    async with running_app(app_settings) as (app, _):
        sent: list[Message] = []

        async def receive() -> Message:
            raise AssertionError("the body was read")

        async def send(message: Message) -> None:
            sent.append(message)

        scope = graphql_post_scope(
            [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"content-length", b"1000000000"),
            ]
        )
        await app(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_batches_are_refused_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": WELCOME}, {"query": WELCOME}])
    assert response.status_code == 400
    assert "Batching is not enabled" in response.json()["errors"][0]["message"]
    await assert_still_answering(client)


async def test_batches_up_to_max_batch_size_run(app_with: AppWith) -> None:
    async with app_with(max_batch_size=2) as client:
        response = await client.post("/graphql", json=[{"query": WELCOME}, {"query": WELCOME}])
        assert response.status_code == 200
        assert [item["data"] for item in response.json()] == [{"__typename": "Query"}] * 2


async def test_batches_over_max_batch_size_are_refused(app_with: AppWith) -> None:
    async with app_with(max_batch_size=2) as client:
        response = await client.post("/graphql", json=[{"query": WELCOME}] * 3)
        assert response.status_code == 400
        assert "Too many operations" in response.json()["errors"][0]["message"]
        await assert_still_answering(client)


async def test_the_fast_path_reports_the_cost_of_each_requests_page_size(
    client: httpx.AsyncClient,
) -> None:
    query = "query($n: Int) { users(first: $n) { edges { node { username } } } }"
    costs = [
        (await post(client, query, {"n": n})).json()["extensions"]["cost"]["requested"]
        for n in (2, 2, 5, 2)
    ]
    assert costs == [1 + 2 * 3, 1 + 2 * 3, 1 + 5 * 3, 1 + 2 * 3]
