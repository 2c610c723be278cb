"""Unexpected errors are masked and logged with the request id; a failed mutation writes nothing."""

import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from gql_app import queries
from gql_app.core.resources import resources_of
from gql_app.db import RequestSession
from gql_app.db.models import Comment, Post
from tests.support.app import AuthUser, MakeComment, MakePost, MakeUser

CREATE_POST = """mutation { createPost(input: {title: "Title", body: "Body"}) {
  __typename ... on CreatePostSuccess { post { id } } } }"""


def _fail_after(write: Any) -> Any:
    """`write`, but raising once it has written."""

    async def failing(*args: Any, **kwargs: Any) -> None:
        await write(*args, **kwargs)
        raise RuntimeError("disk on fire at /srv/secret/path.py")

    return failing


async def _count(db: RequestSession, table: type[Post] | type[Comment]) -> int:
    async with db.transaction() as session:
        count: int = (await session.execute(select(func.count()).select_from(table))).scalar_one()
    return count


@pytest.fixture
async def alice(make_user: MakeUser) -> AuthUser:
    return await make_user("alice")


async def test_an_unexpected_error_is_masked_with_the_request_id(
    client: httpx.AsyncClient, alice: AuthUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "insert_post", _fail_after(queries.insert_post))
    headers = alice.headers | {"X-Request-ID": "req-123"}
    response = await client.post("/graphql", json={"query": CREATE_POST}, headers=headers)
    assert response.headers["X-Request-ID"] == "req-123"
    assert response.json()["errors"] == [
        {
            "message": "Internal server error (request id: req-123)",
            "locations": [{"line": 1, "column": 12}],
            "path": ["createPost"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text


async def test_an_unexpected_error_is_logged_with_its_traceback_and_request_id(
    client: httpx.AsyncClient,
    alice: AuthUser,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(queries, "insert_post", _fail_after(queries.insert_post))
    headers = alice.headers | {"X-Request-ID": "req-456"}
    with caplog.at_level(logging.ERROR, logger="gql_app.graphql"):
        await client.post("/graphql", json={"query": CREATE_POST}, headers=headers)
    [record] = [r for r in caplog.records if r.name == "gql_app.graphql"]
    assert "req-456" in record.getMessage()
    assert "createPost" in record.getMessage()
    assert record.exc_info is not None
    assert "disk on fire" in str(record.exc_info[1])


async def test_a_mutation_failing_after_its_write_leaves_nothing_written(
    client: httpx.AsyncClient,
    alice: AuthUser,
    db: RequestSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "insert_post", _fail_after(queries.insert_post))
    response = await client.post("/graphql", json={"query": CREATE_POST}, headers=alice.headers)
    assert response.json()["data"] is None
    assert await _count(db, Post) == 0


async def test_a_post_deletion_failing_after_its_write_keeps_the_post_and_comments(
    client: httpx.AsyncClient,
    alice: AuthUser,
    make_post: MakePost,
    make_comment: MakeComment,
    db: RequestSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post_id = await make_post(alice)
    await make_comment(alice, post_id)
    monkeypatch.setattr(queries, "delete_post", _fail_after(queries.delete_post))
    mutation = "mutation($id: ID!) { deletePost(input: {id: $id}) { __typename } }"
    body = (
        await client.post(
            "/graphql",
            json={"query": mutation, "variables": {"id": post_id}},
            headers=alice.headers,
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert (await _count(db, Post), await _count(db, Comment)) == (1, 1)


async def test_the_session_is_usable_after_a_failed_request(
    client: httpx.AsyncClient, alice: AuthUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(queries, "insert_post", _fail_after(queries.insert_post))
        await client.post("/graphql", json={"query": CREATE_POST}, headers=alice.headers)
    response = await client.post("/graphql", json={"query": CREATE_POST}, headers=alice.headers)
    assert response.json()["data"]["createPost"]["__typename"] == "CreatePostSuccess"


async def test_graphql_validation_errors_are_reported_as_graphql_reports_them(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": "{ users { nope } }"})
    [error] = response.json()["errors"]
    assert error["message"] == "Cannot query field 'nope' on type 'UserConnection'."


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc.DEF_1:2-3"})
    assert response.headers["X-Request-ID"] == "abc.DEF_1:2-3"


@pytest.mark.parametrize("given", [None, "has spaces", "x" * 129, "<script>", "a\nb"])
async def test_a_missing_or_insane_request_id_is_replaced_by_a_fresh_one(
    client: httpx.AsyncClient, given: str | None
) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}
    response = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_no_connection_stays_checked_out_after_a_failed_or_successful_request(
    app_client: tuple[FastAPI, httpx.AsyncClient],
    alice: AuthUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, client = app_client
    pool = resources_of(app).engine.sync_engine.pool
    with monkeypatch.context() as patch:
        patch.setattr(queries, "insert_post", _fail_after(queries.insert_post))
        await client.post("/graphql", json={"query": CREATE_POST}, headers=alice.headers)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    await client.post("/graphql", json={"query": CREATE_POST}, headers=alice.headers)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
