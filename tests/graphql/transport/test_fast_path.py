"""The fast path (gql_app/graphql/transport/fast_path.py) answers a query it has seen validated
exactly as the full path (FastAPI, Strawberry's view and extensions) answers it.

Each case is sent to an app whose full path runs everything (`COMPILED_EXECUTION=false`) and
twice to an app with the fast path: the first time the full path validates the query text,
the second time the fast path may serve it. Status, media type and body must be identical.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Message

from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from gql_app.graphql.transport.http import GRAPHQL_RESPONSE_JSON
from tests.support.app import AppWith, AuthUser, MakeUser, graphql_post_scope

USER = "query User($id: ID!) { user(id: $id) { id username createdAt } }"
POSTS = (
    "query Posts($first: Int, $after: String)"
    " { posts(first: $first, after: $after) { edges { node { id title } } } }"
)
ME = "{ me { username email } }"
TWO = "query A { me { username } } query B { users(first: 2) { edges { node { username } } } }"


@dataclass(frozen=True)
class Case:
    """A request: its JSON body (built from the test's user) and extra headers."""

    body: Callable[[AuthUser], dict[str, Any]]
    signed_in: bool = False
    headers: dict[str, str] = field(default_factory=dict)


CASES = {
    "a query with variables": Case(lambda u: {"query": USER, "variables": {"id": u.id}}),
    "an unknown id": Case(lambda u: {"query": USER, "variables": {"id": "VXNlcjo5OTk5OTk="}}),
    "a field error (bad cursor)": Case(
        lambda _: {"query": POSTS, "variables": {"first": 2, "after": "not-a-cursor"}}
    ),
    "a missing variable": Case(lambda _: {"query": USER, "variables": {}}),
    "an explicit null variable": Case(lambda _: {"query": USER, "variables": {"id": None}}),
    "a variable of the wrong type": Case(lambda _: {"query": USER, "variables": {"id": 5}}),
    "a page over the size limit": Case(lambda _: {"query": POSTS, "variables": {"first": 1000}}),
    "the viewer": Case(lambda _: {"query": ME}, signed_in=True),
    "no viewer": Case(lambda _: {"query": ME}),
    "an operation picked by name": Case(lambda _: {"query": TWO, "operationName": "B"}),
    "an unknown operation name": Case(lambda _: {"query": TWO, "operationName": "C"}),
    "no operation name for two": Case(lambda _: {"query": TWO}),
    "graphql-response+json": Case(
        lambda u: {"query": USER, "variables": {"id": u.id}},
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    ),
    "null variables": Case(lambda _: {"query": ME, "variables": None}),
    "introspection (stock execution)": Case(
        lambda _: {"query": "{ __schema { queryType { name } } __typename }"}
    ),
    "a fragment and @include": Case(
        lambda u: {
            "query": "query F($id: ID!, $with: Boolean!) { user(id: $id) { ...U } }"
            " fragment U on User { username createdAt @include(if: $with) }",
            "variables": {"id": u.id, "with": False},
        }
    ),
    "extensions given": Case(lambda _: {"query": ME, "extensions": {"a": 1}}),
    "fields of one name that do not merge": Case(
        lambda u: {
            "query": "query C($id: ID!) { x: user(id: $id) { username } x: me { username } }",
            "variables": {"id": u.id},
        }
    ),
}


async def _send(
    client: httpx.AsyncClient, case: Case, user: AuthUser
) -> tuple[int, str | None, str | None, Any]:
    headers = {
        "X-Request-ID": "same-id",
        **case.headers,
        **(user.headers if case.signed_in else {}),
    }
    response = await client.post("/graphql", json=case.body(user), headers=headers)
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("vary"),
        response.json(),
    )


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_fast_path_answers_as_the_full_path(
    name: str, app_with: AppWith, make_user: MakeUser
) -> None:
    user = await make_user("fastpath")
    case = CASES[name]
    async with app_with(compiled_execution=False, query_max_cost=500) as full:
        expected = await _send(full, case, user)
    async with app_with(query_max_cost=500) as fast:
        await _send(fast, case, user)
        answered = await _send(fast, case, user)
    assert answered == expected


async def test_a_query_over_the_cost_limit_with_new_variables_is_refused(
    app_with: AppWith, make_user: MakeUser
) -> None:
    user = await make_user("costly")
    cheap = Case(lambda _: {"query": POSTS, "variables": {"first": 2}})
    costly = Case(lambda _: {"query": POSTS, "variables": {"first": 90}})
    async with app_with(query_max_cost=100) as client:
        assert (await _send(client, cheap, user))[0] == 200
        status, _, _, body = await _send(client, costly, user)
    assert status == 200
    assert [error["extensions"]["code"] for error in body["errors"]] == ["QUERY_TOO_COSTLY"]
    assert "data" not in body


async def test_a_query_seen_before_skips_strawberrys_pipeline(
    app_with: AppWith, make_user: MakeUser, full_path_runs: list[str | None]
) -> None:
    user = await make_user("counted")
    case = CASES["a query with variables"]
    async with app_with() as client:
        first = await _send(client, case, user)
        second = await _send(client, case, user)
    assert full_path_runs == [USER]
    assert first == second
    assert second[3]["data"]["user"]["username"] == "counted"


async def test_with_compiled_execution_off_every_request_takes_the_full_path(
    app_with: AppWith, make_user: MakeUser, full_path_runs: list[str | None]
) -> None:
    user = await make_user("offpath")
    async with app_with(compiled_execution=False) as client:
        for _ in range(2):
            await _send(client, CASES["a query with variables"], user)
    assert full_path_runs == [USER, USER]


NESTED_PAGE = """query { posts(first: 3) { edges { node { title author { username }
  comments(first: 2) { edges { node { body author { username } } } } } } } }"""


@pytest.fixture
def cyclic_garbage() -> Iterator[Callable[[], int]]:
    """Counts the objects that only the cyclic garbage collector would free, made from here on
    (the collector is off meanwhile)."""
    gc.collect()
    gc.disable()
    try:
        yield gc.collect
    finally:
        gc.enable()


async def _post_asgi(app: FastAPI, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """A POST to /graphql straight through the ASGI app: no client objects of its own."""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = graphql_post_scope(raw)
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


async def test_a_request_on_the_fast_path_leaves_no_reference_cycles(
    app_client: tuple[FastAPI, httpx.AsyncClient],
    db: RequestSession,
    make_user: MakeUser,
    cyclic_garbage: Callable[[], int],
) -> None:
    """What a request made (its context, loaders, rows) goes when it ends, by reference
    counting: garbage in cycles would wait for the collector, which walks it again and again
    under load and lets memory grow meanwhile."""
    app, client = app_client
    async with db.transaction(write=True) as session:
        await seed(session, users=3, posts_per_user=2, comments_per_post=2)
    user = await make_user("acyclic")
    body = orjson.dumps({"query": NESTED_PAGE})
    await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    cyclic_garbage()  # what the full path left
    for _ in range(3):
        status, answer = await _post_asgi(app, body, user.headers)
        edges = orjson.loads(answer)["data"]["posts"]["edges"]
        assert status == 200
        assert len(edges) == 3
        assert edges[0]["node"]["comments"]["edges"]
    assert cyclic_garbage() == 0


async def test_each_accept_header_gets_its_own_media_type_on_the_fast_path(
    client: httpx.AsyncClient,
) -> None:
    body = {"query": "{ __typename }"}
    await client.post("/graphql", json=body)  # the full path validates the query
    accepts = ["application/json", GRAPHQL_RESPONSE_JSON, "application/json"]
    answered = [
        (await client.post("/graphql", json=body, headers={"Accept": accept})).headers[
            "content-type"
        ]
        for accept in accepts
    ]
    assert answered == [
        "application/json; charset=utf-8",
        f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8",
        "application/json; charset=utf-8",
    ]
