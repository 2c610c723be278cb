"""Mutations on the fast path (gql_app/graphql/transport/fast_mutation.py) answer and write
exactly as on the full path (FastAPI, Strawberry's view and extensions, stock execution).

Each case runs twice on the same database state (tests/support/written.py): once on an app
whose full path runs everything (`COMPILED_EXECUTION=false`), once on an app with the fast
path, after a request of the same text whose variables do not coerce (the full path
validates the text; nothing runs). Status, headers, body and every row written must be the
same, and the second run must not have reached the full path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from gql_app import queries
from gql_app.db import RequestSession, parse_position
from gql_app.graphql.execution.mutations import CompiledPayloadExecutor
from gql_app.graphql.execution.plan import FallBack
from gql_app.graphql.execution.response_size import BoundedExecutor
from gql_app.graphql.transport.http import GRAPHQL_RESPONSE_JSON
from tests.support.app import AppWith, post_graphql
from tests.support.replicas import CREATE_POST, in_rotation, register
from tests.support.written import (
    PASSWORD,
    gid,
    headers_of,
    reset,
    rows,
    seed_state,
    without_varying,
)

ERRORS = "... on Error { message }"
FIELD = "... on ValidationError { field }"
LIMITED = "... on RateLimited { retryAfterSeconds }"
POST = "id title body createdAt updatedAt author { id username }"
AUTH = f"... on AuthSuccess {{ user {{ id username email }} token expiresAt }} {LIMITED}"


def _mutation(name: str, field_name: str, success: str, *, more: str = FIELD) -> str:
    return (
        f"mutation {name}($input: {name}Input!) {{ {field_name}(input: $input) {{ __typename"
        f" ... on {name}Success {{ {success} }} {ERRORS} {more} }} }}"
    )


NEW_POST = _mutation(
    "CreatePost", "createPost", f"post {{ {POST} }} postEdge {{ cursor node {{ id }} }}"
)
UPDATE_POST = _mutation("UpdatePost", "updatePost", f"post {{ {POST} }}")
DELETE_POST = _mutation("DeletePost", "deletePost", "deletedPostId")
ADD_COMMENT = _mutation(
    "AddComment",
    "addComment",
    "comment { id body createdAt author { id username } post { id title } }"
    " commentEdge { cursor node { id } }",
)
DELETE_COMMENT = _mutation("DeleteComment", "deleteComment", "deletedCommentId")
REGISTER = (
    "mutation Register($input: RegisterInput!) { register(input: $input) { __typename"
    f" {AUTH} {ERRORS} {FIELD} }} }}"
)
LOGIN = (
    "mutation Login($input: LoginInput!) { login(input: $input) { __typename"
    f" {AUTH} {ERRORS} {FIELD} }} }}"
)
# A variable of its own, so that a request whose variables do not coerce can warm it up.
LOGOUT = (
    "mutation Logout($with: Boolean!) { logout { __typename"
    f" ... on LogoutSuccess {{ tokenRevoked @include(if: $with) }} {ERRORS} }} }}"
)
CHANGE_PASSWORD = _mutation(
    "ChangePassword",
    "changePassword",
    "user { id username } revokedTokenCount",
    more=f"{FIELD} {LIMITED}",
)
UPDATE_PROFILE = _mutation("UpdateProfile", "updateProfile", "user { id username email }")
DELETE_ACCOUNT = _mutation(
    "DeleteAccount", "deleteAccount", "deletedUserId", more=f"{FIELD} {LIMITED}"
)
THREE_COMMENTS = (
    "mutation Three($post: ID!) {"
    ' a: addComment(input: {postId: $post, body: "one"}) { __typename }'
    ' b: addComment(input: {postId: $post, body: "two"}) { __typename }'
    ' c: addComment(input: {postId: $post, body: "three"}) { __typename } }'
)
POST_1, POST_2, COMMENT_1, COMMENT_2 = (
    gid("Post", 1),
    gid("Post", 2),
    gid("Comment", 1),
    gid("Comment", 2),
)


@dataclass(frozen=True)
class Case:
    """A request as `viewer` (None: signed out), after the requests `before`, on an app with
    `settings`; `broken` names a query function whose calls from the `fail_from`-th on raise
    an unexpected error."""

    query: str
    variables: dict[str, Any]
    viewer: str | None = "alice"
    before: tuple[tuple[str, dict[str, Any]], ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    broken: str | None = None
    fail_from: int = 1
    refused: bool = False  # by a rule of the full path's: it answers on both apps


def _input(query: str, viewer: str | None = "alice", **values: Any) -> Case:
    return Case(query, {"input": values}, viewer)


WRONG_LOGIN = (LOGIN, {"input": {"login": "alice", "password": "wrong password"}})
CASES = {
    "createPost": _input(NEW_POST, title="New", body="Text"),
    "createPost, invalid": _input(NEW_POST, title=" ", body="Text"),
    "createPost, signed out": _input(NEW_POST, None, title="New", body="Text"),
    "updatePost": _input(UPDATE_POST, id=POST_1, title="Changed"),
    "updatePost, nothing to change": _input(UPDATE_POST, id=POST_1),
    "updatePost, not a post id": _input(UPDATE_POST, id=COMMENT_1, title="Changed"),
    "updatePost, no such post": _input(UPDATE_POST, id=gid("Post", 99), title="Changed"),
    "updatePost, another's post": _input(UPDATE_POST, id=POST_2, title="Changed"),
    "deletePost": _input(DELETE_POST, id=POST_1),
    "deletePost, no such post": _input(DELETE_POST, id=gid("Post", 99)),
    "deletePost, another's post": _input(DELETE_POST, id=POST_2),
    "deletePost, signed out": _input(DELETE_POST, None, id=POST_1),
    "addComment": _input(ADD_COMMENT, postId=POST_2, body="Nice"),
    "addComment, empty body": _input(ADD_COMMENT, postId=POST_2, body=""),
    "addComment, no such post": _input(ADD_COMMENT, postId=gid("Post", 99), body="Nice"),
    "addComment, signed out": _input(ADD_COMMENT, None, postId=POST_2, body="Nice"),
    "addComment, graphql-response+json": Case(
        ADD_COMMENT,
        {"input": {"postId": POST_2, "body": "Nice"}},
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    ),
    "addComment, response over MAX_RESPONSE_BYTES": Case(
        ADD_COMMENT,
        {"input": {"postId": POST_2, "body": "x" * 2000}},
        settings={"max_response_bytes": 1024},
    ),
    "addComment beside __typename, aliased": Case(
        "mutation Aliased($input: AddCommentInput!) { __typename"
        " first: addComment(input: $input) { __typename"
        " ... on AddCommentSuccess { comment { body } } } }",
        {"input": {"postId": POST_2, "body": "Nice"}},
    ),
    "addComment, unexpected error (masked)": Case(
        ADD_COMMENT, {"input": {"postId": POST_2, "body": "Nice"}}, broken="insert_comment"
    ),
    "deleteComment": _input(DELETE_COMMENT, id=COMMENT_1),
    "deleteComment, no such comment": _input(DELETE_COMMENT, id=gid("Comment", 99)),
    "deleteComment, another's comment": _input(DELETE_COMMENT, id=COMMENT_2),
    "register": _input(
        REGISTER, None, username="carol", email="carol@example.com", password=PASSWORD
    ),
    "register, username taken": _input(
        REGISTER, None, username="alice", email="other@example.com", password=PASSWORD
    ),
    "register, email taken": _input(
        REGISTER, None, username="carol", email="BOB@example.com", password=PASSWORD
    ),
    "register, short password": _input(
        REGISTER, None, username="carol", email="carol@example.com", password="short"
    ),
    "login": _input(LOGIN, None, login="alice", password=PASSWORD),
    "login, wrong password": Case(*WRONG_LOGIN, viewer=None),
    "login, rate limited": Case(
        *WRONG_LOGIN, viewer=None, before=(WRONG_LOGIN,), settings={"login_max_failures": 1}
    ),
    "logout": Case(LOGOUT, {"with": True}),
    "logout, signed out": Case(LOGOUT, {"with": True}, viewer=None),
    "changePassword": _input(
        CHANGE_PASSWORD, currentPassword=PASSWORD, newPassword="another good password"
    ),
    "changePassword, wrong password": _input(
        CHANGE_PASSWORD, currentPassword="wrong password", newPassword="another good password"
    ),
    "changePassword, short new password": _input(
        CHANGE_PASSWORD, currentPassword=PASSWORD, newPassword="short"
    ),
    "changePassword, signed out": _input(
        CHANGE_PASSWORD, None, currentPassword=PASSWORD, newPassword="another good password"
    ),
    "updateProfile": _input(UPDATE_PROFILE, username="alicia"),
    "updateProfile, username taken": _input(UPDATE_PROFILE, username="bob"),
    "updateProfile, email taken": _input(UPDATE_PROFILE, email="bob@example.com"),
    "updateProfile, invalid username": _input(UPDATE_PROFILE, username="a"),
    "deleteAccount": _input(DELETE_ACCOUNT, password=PASSWORD),
    "deleteAccount, wrong password": _input(DELETE_ACCOUNT, password="wrong password"),
    "three mutation fields": Case(THREE_COMMENTS, {"post": POST_2}),
    "two password fields (refused)": Case(
        "mutation Two($input: LoginInput!) { a: login(input: $input) { __typename }"
        " b: login(input: $input) { __typename } }",
        WRONG_LOGIN[1],
        viewer=None,
        refused=True,
    ),
    "fields of one name that do not merge (refused)": Case(
        "mutation Clash($input: AddCommentInput!) { x: addComment(input: $input) { __typename }"
        f' x: deleteComment(input: {{id: "{COMMENT_1}"}}) {{ __typename }} }}',
        {"input": {"postId": POST_2, "body": "Nice"}},
        refused=True,
    ),
    "three mutation fields, the second fails": Case(
        THREE_COMMENTS, {"post": POST_2}, broken="insert_comment", fail_from=2
    ),
}


@contextmanager
def broken_query(name: str | None, fail_from: int) -> Iterator[None]:
    """Within the block, calls of `queries.<name>` (if given) from the `fail_from`-th on
    raise an unexpected error."""
    with pytest.MonkeyPatch.context() as patch:
        if name is not None:
            working = getattr(queries, name)
            calls = [0]

            async def broken(*args: Any, **kwargs: Any) -> Any:
                calls[0] += 1
                if calls[0] >= fail_from:
                    raise RuntimeError("the disk is on fire")
                return await working(*args, **kwargs)

            patch.setattr(queries, name, broken)
        yield


async def _run(
    case: Case,
    fast: bool,
    database_url: str,
    db: RequestSession,
    app_with: AppWith,
    full_path_runs: list[str | None],
) -> tuple[Any, ...]:
    """The answer and the rows after `case`, and whether the full path answered it."""
    await reset(database_url)
    await seed_state(db)
    headers = {"X-Request-ID": "same-id", **headers_of(case.viewer), **case.headers}
    async with app_with(compiled_execution=fast, **case.settings) as client:
        if fast:  # the full path validates the text; the variables do not coerce
            warm = await client.post("/graphql", json={"query": case.query, "variables": {}})
            assert warm.json()["errors"]
        for query, variables in case.before:
            await client.post("/graphql", json={"query": query, "variables": variables})
        runs = len(full_path_runs)
        with broken_query(case.broken, case.fail_from):
            response = await client.post(
                "/graphql",
                json={"query": case.query, "variables": case.variables},
                headers=headers,
            )
        full = len(full_path_runs) > runs
    answer = (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("vary"),
        without_varying(response.json()),
    )
    return answer, await rows(database_url), full


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_mutation_on_the_fast_path_answers_and_writes_as_on_the_full_path(
    name: str,
    database_url: str,
    db: RequestSession,
    app_with: AppWith,
    full_path_runs: list[str | None],
) -> None:
    case = CASES[name]
    arguments = (database_url, db, app_with, full_path_runs)
    expected_answer, expected_rows, full = await _run(case, False, *arguments)
    assert full
    answer, written, full = await _run(case, True, *arguments)
    assert full is case.refused
    assert (answer, written) == (expected_answer, expected_rows)


async def test_a_write_on_the_fast_path_reports_its_commit_position_with_replicas(
    replicated_app: AppWith, full_path_runs: list[str | None]
) -> None:
    async with replicated_app(replica_max_lag_ms=600_000) as client:
        await in_rotation(client)
        registered = await register(client)
        await post_graphql(client, CREATE_POST, {})  # validated; the variables do not coerce
        runs = len(full_path_runs)
        response = await post_graphql(client, CREATE_POST, {"title": "t"}, registered.token)
    assert len(full_path_runs) == runs
    position = response.headers["X-Read-After"]
    assert position == response.json()["extensions"]["readAfter"]
    assert (parse_position(position) or 0) > (parse_position(registered.read_after) or 0)


@pytest.fixture
def compiled_payloads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each payload the fast path completes from here on: whether its plan ran it."""
    outcomes: list[bool] = []
    compiled = CompiledPayloadExecutor._compiled

    async def counted(executor: CompiledPayloadExecutor, *args: Any) -> Any:
        try:
            value = await compiled(executor, *args)
        except FallBack:
            outcomes.append(False)
            raise
        outcomes.append(True)
        return value

    monkeypatch.setattr(CompiledPayloadExecutor, "_compiled", counted)
    return outcomes


async def _twice(case: Case, database_url: str, db: RequestSession, app_with: AppWith) -> Any:
    """`case` on the fast path, its text validated first; the response body."""
    await reset(database_url)
    await seed_state(db)
    async with app_with() as client:
        await client.post("/graphql", json={"query": case.query, "variables": {}})
        response = await client.post(
            "/graphql",
            json={"query": case.query, "variables": case.variables},
            headers=headers_of(case.viewer),
        )
    return response.json()


async def test_a_payload_is_completed_by_its_compiled_plan(
    database_url: str, db: RequestSession, app_with: AppWith, compiled_payloads: list[bool]
) -> None:
    body = await _twice(CASES["addComment"], database_url, db, app_with)
    assert body["data"]["addComment"]["comment"]["author"] == {
        "id": gid("User", 1),
        "username": "alice",
    }
    assert compiled_payloads == [True]


async def test_a_payload_with_a_field_extension_is_completed_by_stock_execution(
    database_url: str, db: RequestSession, app_with: AppWith, compiled_payloads: list[bool]
) -> None:
    body = await _twice(CASES["login"], database_url, db, app_with)  # User.email: themself only
    assert body["data"]["login"]["user"]["email"] == "alice@example.com"
    assert compiled_payloads == [False]


@pytest.mark.parametrize(
    ("method", "content_type", "status"),
    [
        ("POST", "text/plain", 415),
        ("POST", "application/x-www-form-urlencoded", 415),
        ("GET", None, 405),
    ],
)
async def test_a_mutation_a_cross_site_page_could_send_is_refused_after_its_text_was_validated(
    method: str,
    content_type: str | None,
    status: int,
    database_url: str,
    db: RequestSession,
    app_with: AppWith,
) -> None:
    case = CASES["addComment"]
    await reset(database_url)
    await seed_state(db)
    body = orjson.dumps({"query": case.query, "variables": case.variables})
    async with app_with() as client:
        await client.post("/graphql", json={"query": case.query, "variables": {}})
        if method == "GET":
            response = await client.get(
                "/graphql",
                params={"query": case.query, "variables": orjson.dumps(case.variables).decode()},
                headers=headers_of("alice"),
            )
        else:
            response = await client.post(
                "/graphql",
                content=body,
                headers={"Content-Type": str(content_type), **headers_of("alice")},
            )
    assert response.status_code == status
    assert (await rows(database_url))["comments"] == [
        {"id": 1, "post_id": 1, "author_id": 1, "body": "alice's comment"},
        {"id": 2, "post_id": 1, "author_id": 2, "body": "bob's comment"},
    ]


async def test_an_exception_out_of_the_executor_is_answered_once_as_on_the_full_path(
    database_url: str,
    db: RequestSession,
    app_with: AppWith,
    full_path_runs: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES["addComment"]
    answers = []
    for fast in (False, True):
        await reset(database_url)
        await seed_state(db)
        async with app_with(compiled_execution=fast) as client:
            await client.post("/graphql", json={"query": case.query, "variables": {}})
            with monkeypatch.context() as patch:
                patch.setattr(BoundedExecutor, "execute_operation", _raising)
                runs = len(full_path_runs)
                response = await client.post(
                    "/graphql",
                    json={"query": case.query, "variables": case.variables},
                    headers={"X-Request-ID": "same-id", **headers_of("alice")},
                )
        answers.append((response.status_code, response.json(), len(full_path_runs) - runs))
    (status, body, runs_full), (fast_status, fast_body, runs_fast) = answers
    assert (runs_full, runs_fast) == (1, 0)
    assert (fast_status, fast_body) == (status, body)
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


def _raising(*_args: Any) -> Any:
    raise RuntimeError("the executor broke")
