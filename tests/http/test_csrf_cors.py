"""Cross-site requests: what a page on another site can send without a CORS preflight (a form:
`text/plain`, form-encoded or multipart, or a GET) runs nothing; CORS allows the origins of
`CORS_ORIGINS` only (none by default)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.app import AppWith, MakeUser, graphql_data

FORGED = 'mutation { createPost(input: {title: "Forged", body: "by another site"}) { __typename } }'
APP_ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
# The body and content type of each request a cross-site form can make without a preflight.
FORMS = {
    "text/plain": ("text/plain", json.dumps({"query": FORGED})),
    "form-encoded": ("application/x-www-form-urlencoded", urlencode({"query": FORGED})),
    "multipart": (
        "multipart/form-data; boundary=x",
        '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        + json.dumps({"query": FORGED, "variables": {}})
        + '\r\n--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--x--\r\n',
    ),
}
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def posts_written(client: httpx.AsyncClient) -> int:
    count: int = (await graphql_data(client, "{ posts { totalCount } }"))["posts"]["totalCount"]
    return count


@pytest.mark.parametrize("form", FORMS)
async def test_a_form_post_is_refused_and_runs_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, form: str
) -> None:
    user = await make_user("victim")
    content_type, body = FORMS[form]
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": content_type, **user.headers}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["errors"][0]["message"]
    assert await posts_written(client) == 0


async def test_a_mutation_over_get_is_refused_and_runs_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("victim")
    response = await client.get("/graphql", params={"query": FORGED}, headers=user.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert await posts_written(client) == 0


async def test_the_same_mutation_as_json_runs(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("author")
    data = await graphql_data(client, FORGED, headers=user.headers)
    assert data == {"createPost": {"__typename": "CreatePostSuccess"}}
    assert await posts_written(client) == 1


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@sqlite_only
async def test_no_origin_is_allowed_by_default(client: httpx.AsyncClient) -> None:
    answer = await client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert "access-control-allow-origin" not in answer.headers
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@sqlite_only
async def test_a_configured_origin_passes_the_preflight(app_with: AppWith) -> None:
    async with app_with(cors_origins=f"{APP_ORIGIN}, https://admin.example") as client:
        answer = await client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type"} <= {name.strip() for name in allowed.split(",")}
    assert "access-control-allow-credentials" not in answer.headers


@sqlite_only
async def test_a_configured_origin_may_read_responses(app_with: AppWith) -> None:
    async with app_with(cors_origins=APP_ORIGIN) as client:
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN}
        )
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


@sqlite_only
async def test_another_origin_fails_the_preflight(app_with: AppWith) -> None:
    async with app_with(cors_origins=APP_ORIGIN) as client:
        answer = await client.options("/graphql", headers=preflight(OTHER_ORIGIN))
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": OTHER_ORIGIN}
        )
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in response.headers
