"""At most one password-checking field per operation: more are refused before any hash."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from gql_app.db import RequestSession
from gql_app.db.models import User
from tests.support.app import graphql

CREDENTIALS = '{login: "nobody", password: "not the password"}'
LOGIN = f"login(input: {CREDENTIALS}) {{ __typename }}"
REGISTER = (
    'register(input: {username: "bob", email: "bob@example.com", password: "a long enough '
    'password"}) { __typename }'
)


def refused_code(body: dict[str, Any]) -> list[str]:
    assert "data" not in body or body["data"] is None, body
    return [error["extensions"]["code"] for error in body["errors"]]


async def _users(db: RequestSession) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


async def test_thirty_aliased_logins_are_refused_before_any_hash(
    client: httpx.AsyncClient, hash_requests: list[str]
) -> None:
    aliased = " ".join(f"a{n}: {LOGIN}" for n in range(30))
    body = await graphql(client, f"mutation {{ {aliased} }}")
    assert refused_code(body) == ["TOO_MANY_PASSWORD_FIELDS"]
    assert "checks 30 passwords" in body["errors"][0]["message"]
    assert hash_requests == []


async def test_two_different_password_fields_are_refused_and_create_nothing(
    client: httpx.AsyncClient, db: RequestSession, hash_requests: list[str]
) -> None:
    body = await graphql(client, f"mutation {{ {REGISTER} {LOGIN} }}")
    assert refused_code(body) == ["TOO_MANY_PASSWORD_FIELDS"]
    assert hash_requests == []
    assert await _users(db) == 0


async def test_one_password_field_runs(client: httpx.AsyncClient, hash_requests: list[str]) -> None:
    body = await graphql(client, f"mutation {{ {LOGIN} }}")
    assert body["data"] == {"login": {"__typename": "InvalidCredentials"}}
    assert hash_requests == ["_verify"]


async def test_password_fields_reached_through_fragments_are_counted(
    client: httpx.AsyncClient, hash_requests: list[str]
) -> None:
    body = await graphql(
        client,
        f"""mutation {{ ...First ... on Mutation {{ second: {LOGIN} }} }}
        fragment First on Mutation {{ first: {LOGIN} ...Third }}
        fragment Third on Mutation {{ third: {LOGIN} }}""",
    )
    assert refused_code(body) == ["TOO_MANY_PASSWORD_FIELDS"]
    assert "checks 3 passwords" in body["errors"][0]["message"]
    assert hash_requests == []


async def test_one_field_spread_twice_runs_once_and_is_allowed(
    client: httpx.AsyncClient, hash_requests: list[str]
) -> None:
    body = await graphql(
        client, f"mutation {{ ...Once ...Once }} fragment Once on Mutation {{ {LOGIN} }}"
    )
    assert body["data"] == {"login": {"__typename": "InvalidCredentials"}}
    assert hash_requests == ["_verify"]


async def test_a_refused_document_is_refused_again_when_its_text_is_known(
    client: httpx.AsyncClient, hash_requests: list[str]
) -> None:
    query = f"mutation {{ a: {LOGIN} b: {LOGIN} }}"
    first, again = await graphql(client, query), await graphql(client, query)
    assert refused_code(first) == refused_code(again) == ["TOO_MANY_PASSWORD_FIELDS"]
    assert hash_requests == []


async def test_only_the_operation_that_runs_is_counted(
    client: httpx.AsyncClient, hash_requests: list[str]
) -> None:
    document = f"mutation Two {{ a: {LOGIN} b: {LOGIN} }} mutation One {{ {LOGIN} }}"
    response = await client.post("/graphql", json={"query": document, "operationName": "One"})
    assert response.json()["data"] == {"login": {"__typename": "InvalidCredentials"}}
    assert hash_requests == ["_verify"]
