"""Work done once per query text (gql_app/graphql/performance.py) changes no answer; JSON
responses are encoded with orjson."""

from typing import Any

import httpx
import pytest

from gql_app.core.config import load_settings
from gql_app.core.lru import LRU
from tests.support.app import CompiledRuns, MakeUser, graphql, running_app

DEEP = """query($a: Int!, $b: Int!, $c: Int!) { users(first: $a) { edges { node {
  posts(first: $b) { edges { node { comments(first: $c) { edges { node { id } } } } } } } } } }"""


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_query_limits_apply_to_each_request_of_a_cached_query(
    client: httpx.AsyncClient,
) -> None:
    cheap = await graphql(client, DEEP, {"a": 1, "b": 1, "c": 1})
    costly = await graphql(client, DEEP, {"a": 100, "b": 100, "c": 100})
    assert "errors" not in cheap
    assert _codes(costly) == ["QUERY_TOO_COSTLY"]


async def test_a_cached_invalid_query_fails_the_same_way_again(client: httpx.AsyncClient) -> None:
    first = await graphql(client, "{ users { nope } }")
    again = await graphql(client, "{ users { nope } }")
    assert first == again
    assert "Cannot query field 'nope'" in first["errors"][0]["message"]


async def test_responses_carry_non_ascii_text_as_utf8(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user("zoë")
    query = '{ userByUsername(username: "zoë") { username } }'
    response = await client.post("/graphql", json={"query": query})
    assert "zoë".encode() in response.content


async def test_queries_run_compiled_by_default(
    client: httpx.AsyncClient, compiled_runs: CompiledRuns
) -> None:
    body = await graphql(client, "{ users(first: 1) { edges { node { id } } } }")
    assert body["data"] == {"users": {"edges": []}}
    assert compiled_runs.count == 1


async def test_compiled_execution_can_be_switched_off(
    database_url: str, compiled_runs: CompiledRuns
) -> None:
    settings = load_settings(database_url=database_url, compiled_execution=False)
    async with running_app(settings) as (_, client):
        body = await graphql(client, "{ users(first: 1) { edges { node { id } } } }")
    assert body["data"] == {"users": {"edges": []}}
    assert compiled_runs.count == 0


def test_compiled_execution_setting_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPILED_EXECUTION", "false")
    assert load_settings().compiled_execution is False


def test_an_lru_forgets_the_least_recently_used_entry() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_query_cache_size_bounds_the_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_CACHE_SIZE", "0")
    with pytest.raises(Exception, match="QUERY_CACHE_SIZE"):
        load_settings()
