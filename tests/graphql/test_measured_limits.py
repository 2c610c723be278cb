"""Limits measure what will run (DESIGN contract 11): the cost reads variables as execution
coerces them, weighs counts and searches by the scans they make, and counts a repeated id once.

Each test runs on both databases: the fast path and execution depend on the backend's data.
"""

from __future__ import annotations

from typing import Any

import httpx

from gql_app.graphql.http import GRAPHQL_RESPONSE_JSON
from gql_app.graphql.ids import encode_global_id

STRICT = {"Accept": GRAPHQL_RESPONSE_JSON, "Content-Type": "application/json"}
# The request: three nested pages of `$n` comments (cost 3,040,402 with n = 100).
NESTED_COMMENTS = """query($n: Int, $i: ID!) { post(id: $i) { comments(first: $n) { edges {
  node { post { comments(first: $n) { edges { node { post { comments(first: $n) { edges {
  node { id } } } } } } } } } } } } }"""
NESTED_COST = 3_040_402
NESTED_COST_OF_ONE = 13  # n = 1: its thirteen fields, once each
POST_ID = encode_global_id("Post", 1)


async def send(client: httpx.AsyncClient, body: str) -> httpx.Response:
    """POSTs `body`, a JSON text as written (numbers such as `1e2` stay as they are)."""
    return await client.post("/graphql", content=body.encode(), headers=STRICT)


def nested_comments(n: str) -> str:
    """The issue's request with `n` written as given in the JSON variables."""
    query = NESTED_COMMENTS.replace("\n", " ")
    return f'{{"query": "{query}", "variables": {{"n": {n}, "i": "{POST_ID}"}}}}'


def refused_as_too_costly(response: httpx.Response, cost: int) -> None:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY"}
    assert f"Query cost {cost} " in error["message"]


async def test_an_int_page_size_written_as_a_float_is_refused(client: httpx.AsyncClient) -> None:
    refused_as_too_costly(await send(client, nested_comments("100.0")), NESTED_COST)


async def test_an_int_page_size_written_with_an_exponent_is_refused(
    client: httpx.AsyncClient,
) -> None:
    refused_as_too_costly(await send(client, nested_comments("1e2")), NESTED_COST)


async def test_the_fast_path_refuses_a_float_page_size_of_a_query_it_has_seen(
    client: httpx.AsyncClient,
) -> None:
    admitted = await send(client, nested_comments("1"))  # validated: the fast path takes it
    assert admitted.json()["extensions"]["cost"]["requested"] == NESTED_COST_OF_ONE
    for n in ("100.0", "1e2", "100.0"):
        refused_as_too_costly(await send(client, nested_comments(n)), NESTED_COST)


async def test_a_page_size_that_does_not_coerce_is_refused_as_execution_refuses_it(
    client: httpx.AsyncClient,
) -> None:
    response = await send(client, nested_comments("100.5"))
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["message"] == (
        "Variable '$n' has invalid value: Int cannot represent non-integer value: 100.5"
    )


async def test_a_single_id_costs_as_the_list_of_one_it_coerces_to(
    client: httpx.AsyncClient,
) -> None:
    body = '{"query": "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", "variables": {"ids": "x"}}'
    response = await send(client, body)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 1


async def test_a_repeated_id_in_nodes_costs_once(client: httpx.AsyncClient) -> None:
    ids = ", ".join(f'\\"{POST_ID}\\"' for _ in range(100))
    body = f'{{"query": "{{ nodes(ids: [{ids}]) {{ id }} }}"}}'
    response = await send(client, body)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 1


async def test_a_variable_in_a_literal_list_costs_its_coerced_distinct_ids(
    client: httpx.AsyncClient,
) -> None:
    query = "query($a: ID!, $b: ID!) { nodes(ids: [$a, $b, $a]) { id } }"
    body = f'{{"query": "{query}", "variables": {{"a": "x", "b": "y"}}}}'
    response = await send(client, body)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 2 * 1


def aliased_search_counts(count: int) -> str:
    fields = " ".join(
        f'p{i}: posts(filter: {{search: \\"a\\"}}) {{ totalCount }}' for i in range(count)
    )
    return f'{{"query": "{{ {fields} }}"}}'


async def test_thirty_aliased_search_counts_are_refused_as_sixty_scans(
    client: httpx.AsyncClient,
) -> None:
    refused_as_too_costly(
        await send(client, aliased_search_counts(30)), 30 * (1 + 20 * 1 + 2 * 1_000)
    )


async def test_a_search_with_its_count_costs_two_scans(client: httpx.AsyncClient) -> None:
    response = await send(client, aliased_search_counts(1))
    assert response.status_code == 200, response.text
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 20 * 1 + 2 * 1_000


async def test_a_search_given_by_a_variable_costs_a_scan(client: httpx.AsyncClient) -> None:
    query = "query($f: PostFilter) { posts(filter: $f) { edges { cursor } } }"
    costs = []
    for f in ('{"search": "a"}', "null", '{"authorId": null}'):
        body = f'{{"query": "{query}", "variables": {{"f": {f}}}}}'
        costs.append((await send(client, body)).json()["extensions"]["cost"]["requested"])
    page = 1 + 20 * (1 + 1)
    assert costs == [page + 1_000, page, page]


async def test_a_nested_count_is_costed_as_a_field(client: httpx.AsyncClient) -> None:
    body = '{"query": "{ users(first: 2) { edges { node { posts { totalCount } } } } }"}'
    response = await send(client, body)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 2 * (1 + 1 + (1 + 20 * 1))
