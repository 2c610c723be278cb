"""Read-your-writes with replicas (gql_app/graphql/read_after.py): the commit position a
write reports, reads that send it back, and authentication on the primary, while the
replica's replay is paused (it stays in rotation: REPLICA_MAX_LAG_MS is large here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gql_app.db import parse_position
from tests.support.app import AppWith, graphql, graphql_data, post_graphql
from tests.support.postgres import Replicated
from tests.support.replicas import (
    CREATE_POST,
    POSTS,
    REGISTER,
    Registered,
    in_rotation,
    pause_replay,
    register,
    replayed,
    resume_replay,
    until,
)

USER_POSTS = "query ($id: ID!) { user(id: $id) { posts(first: 5) { edges { node { title } } } } }"


@pytest.fixture
async def client(replicated_app: AppWith) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the replica, which stays in rotation however far behind it is."""
    async with replicated_app(replica_max_lag_ms=600_000) as client:
        await in_rotation(client)
        yield client


@pytest.fixture
async def user(client: httpx.AsyncClient, replicated: Replicated) -> AsyncIterator[Registered]:
    """A user the replica knows, and the replica's replay paused after that."""
    registered = await register(client)
    await replayed(replicated, registered.read_after)
    await pause_replay(replicated)
    try:
        yield registered
    finally:
        await resume_replay(replicated)


async def titles(
    client: httpx.AsyncClient, user: Registered, query: str, **headers: str
) -> list[str]:
    data = await graphql_data(client, query, {"id": user.id}, headers=headers)
    return [edge["node"]["title"] for edge in data["user"]["posts"]["edges"]]


async def test_a_write_reports_its_commit_position_in_extensions_and_a_header(
    client: httpx.AsyncClient,
) -> None:
    response = await post_graphql(client, CREATE_POST, {"title": "t"})  # no viewer: no write
    assert "readAfter" not in response.json().get("extensions", {})
    registered = await register(client)
    assert parse_position(registered.read_after) is not None
    response = await post_graphql(client, CREATE_POST, {"title": "t"}, registered.token)
    position = response.headers["X-Read-After"]
    assert position == response.json()["extensions"]["readAfter"]
    assert (parse_position(position) or 0) > (parse_position(registered.read_after) or 0)


async def test_a_query_reports_no_commit_position(client: httpx.AsyncClient) -> None:
    response = await post_graphql(client, POSTS)
    assert "X-Read-After" not in response.headers
    assert "readAfter" not in response.json().get("extensions", {})


async def test_own_new_post_is_read_after_its_commit_position_though_replay_is_paused(
    client: httpx.AsyncClient, user: Registered
) -> None:
    created = await post_graphql(client, CREATE_POST, {"title": "mine"}, user.token)
    position = created.headers["X-Read-After"]
    assert await titles(client, user, USER_POSTS) == []  # the replica, behind
    assert await titles(client, user, USER_POSTS, **{"X-Read-After": position}) == ["mine"]
    full_path = USER_POSTS.replace("query", "query Fresh", 1)  # a text not seen before
    assert await titles(client, user, full_path, **{"X-Read-After": position}) == ["mine"]


async def test_a_read_after_a_position_the_replica_replayed_is_served_by_the_replica(
    client: httpx.AsyncClient, user: Registered
) -> None:
    await post_graphql(client, CREATE_POST, {"title": "later"}, user.token)

    async def replica_serves() -> bool:  # once the app's check saw it replay the user
        return await titles(client, user, USER_POSTS, **{"X-Read-After": user.read_after}) == []

    await until(replica_serves)


async def test_a_read_after_header_that_is_no_position_reads_the_primary(
    client: httpx.AsyncClient, user: Registered
) -> None:
    await post_graphql(client, CREATE_POST, {"title": "mine"}, user.token)
    assert await titles(client, user, USER_POSTS, **{"X-Read-After": "soon"}) == ["mine"]


async def test_a_logged_out_token_is_refused_though_the_replica_is_behind(
    client: httpx.AsyncClient, user: Registered
) -> None:
    logout = "mutation { logout { ... on LogoutSuccess { tokenRevoked } } }"
    assert (await graphql_data(client, logout, headers=user.headers))["logout"]["tokenRevoked"]
    assert (await graphql_data(client, "{ me { id } }", headers=user.headers))["me"] is None
    refused = await graphql(client, CREATE_POST, {"title": "t"}, headers=user.headers)
    assert "post" not in refused["data"]["createPost"]


async def test_without_replicas_no_position_is_reported_and_the_header_is_ignored(
    app_with: AppWith,
) -> None:
    async with app_with() as plain:
        variables = {"username": "solo", "email": "solo@example.com"}
        response = await post_graphql(plain, REGISTER, variables)
        assert response.json()["data"]["register"]["token"]
        assert "X-Read-After" not in response.headers
        assert "readAfter" not in response.json().get("extensions", {})
        read = await graphql_data(plain, POSTS, headers={"X-Read-After": "FFFFFFFF/0"})
        assert read["posts"]["edges"] == []
