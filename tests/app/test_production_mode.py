"""`ENVIRONMENT=production` turns GraphiQL, introspection and "Did you mean" suggestions off in
one step; `GRAPHIQL`, `INTROSPECTION` and `FIELD_SUGGESTIONS` set each on its own.

None of it touches the database: the app's tests run on SQLite only.
"""

from __future__ import annotations

import httpx
import pytest

from gql_app.core.config import load_settings
from tests.support.app import AppWith

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
INTROSPECTION = "{ __schema { queryType { name } } }"
# Each mistake graphql-core would answer with a "Did you mean ...?" naming the schema's parts.
MISTAKES = {
    "unknown field": ("{ users { edges { node { usernam } } } }", None),
    "unknown argument": ("{ users(frist: 1) { totalCount } }", None),
    "unknown enum value": ("{ posts(orderBy: NEWST) { totalCount } }", None),
    "unknown input field": (
        "mutation($input: CreatePostInput!) { createPost(input: $input) { __typename } }",
        {"input": {"titel": "A", "body": "B"}},
    ),
}


async def serves_graphiql(client: httpx.AsyncClient) -> bool:
    response = await client.get("/graphql", headers=BROWSER)
    return response.status_code == 200 and response.headers["content-type"].startswith("text/html")


async def answers_introspection(client: httpx.AsyncClient) -> bool:
    body = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
    return "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


async def error_messages(client: httpx.AsyncClient, mistake: str) -> list[str]:
    query, variables = MISTAKES[mistake]
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    messages = [error["message"] for error in body["errors"]]
    assert messages
    return messages


def test_environment_production_turns_all_three_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings = load_settings()
    switches = (settings.graphiql_enabled, settings.introspection_enabled)
    assert (*switches, settings.field_suggestions_enabled) == (False, False, False)


def test_development_is_the_default_and_keeps_all_three_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    settings = load_settings()
    switches = (settings.graphiql_enabled, settings.introspection_enabled)
    assert (*switches, settings.field_suggestions_enabled) == (True, True, True)


@sqlite_only
async def test_development_serves_graphiql_and_introspection(client: httpx.AsyncClient) -> None:
    assert await serves_graphiql(client)
    assert await answers_introspection(client)


@sqlite_only
@pytest.mark.parametrize("mistake", MISTAKES)
async def test_development_suggests_what_was_meant(client: httpx.AsyncClient, mistake: str) -> None:
    assert any("Did you mean" in message for message in await error_messages(client, mistake))


@sqlite_only
async def test_production_serves_no_graphiql(app_with: AppWith) -> None:
    async with app_with(environment="production") as client:
        response = await client.get("/graphql", headers=BROWSER)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/json")
        assert (await client.get("/graphql/static/any/graphiql.min.js")).status_code == 404


@sqlite_only
async def test_production_refuses_introspection(app_with: AppWith) -> None:
    async with app_with(environment="production") as client:
        body = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
        assert "data" not in body
        assert "introspection has been disabled" in body["errors"][0]["message"]


@sqlite_only
async def test_production_still_answers_typename(app_with: AppWith) -> None:
    async with app_with(environment="production") as client:
        body = (await client.post("/graphql", json={"query": "{ __typename }"})).json()
        assert body["data"] == {"__typename": "Query"}


@sqlite_only
@pytest.mark.parametrize("mistake", MISTAKES)
async def test_production_suggests_nothing(app_with: AppWith, mistake: str) -> None:
    async with app_with(environment="production") as client:
        messages = await error_messages(client, mistake)
        assert not any("Did you mean" in message for message in messages), messages


@sqlite_only
async def test_graphiql_can_be_on_in_production_alone(app_with: AppWith) -> None:
    async with app_with(environment="production", graphiql=True) as client:
        assert await serves_graphiql(client)
        assert not await answers_introspection(client)


@sqlite_only
async def test_introspection_can_be_on_in_production_alone(app_with: AppWith) -> None:
    async with app_with(environment="production", introspection=True) as client:
        assert await answers_introspection(client)
        assert not await serves_graphiql(client)


@sqlite_only
async def test_suggestions_can_be_on_in_production_alone(app_with: AppWith) -> None:
    async with app_with(environment="production", field_suggestions=True) as client:
        messages = await error_messages(client, "unknown field")
        assert any("Did you mean 'username'?" in message for message in messages)
        assert not await answers_introspection(client)


@sqlite_only
async def test_each_can_be_off_in_development(app_with: AppWith) -> None:
    async with app_with(graphiql=False, introspection=False, field_suggestions=False) as client:
        assert not await serves_graphiql(client)
        assert not await answers_introspection(client)
        messages = await error_messages(client, "unknown field")
        assert messages == ["Cannot query field 'usernam' on type 'User'."]
