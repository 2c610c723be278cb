"""SpecGraphQLRouter speaks GraphQL over HTTP as the spec says; graphql-http's audit agrees.

A tiny schema stands in for the app's: the router is what is under test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import strawberry
import uvicorn
from fastapi import FastAPI

from gql_app.graphql.transport.http import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    SpecGraphQLRouter,
    negotiate_media_type,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
AUDIT_DIR = Path(__file__).resolve().parents[2] / "http_audit"
ENDPOINT = "/graphql"


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str | None = None) -> str | None:
        """Greets; the name "fail" raises, giving a field error next to data."""
        if name == "fail":
            raise ValueError("no greeting for you")
        return f"Hello, {name or 'world'}!"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self, info: strawberry.Info) -> int | None:
        """Counts its runs on the app, so a test can tell whether it ran."""
        state = info.context["request"].app.state
        state.bumps += 1
        bumps: int = state.bumps
        return bumps


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)


def build_app(graphql_ide: Literal["graphiql"] | None = "graphiql") -> FastAPI:
    app = FastAPI()
    app.state.bumps = 0
    app.include_router(SpecGraphQLRouter(SCHEMA, graphql_ide=graphql_ide), prefix=ENDPOINT)
    return app


@pytest.fixture
def app() -> FastAPI:
    return build_app()


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def post(
    api: httpx.AsyncClient, body: object, accept: str | None = None, **headers: str
) -> httpx.Response:
    """POST a JSON body; `accept` None sends no Accept header (httpx would send */*)."""
    request = api.build_request("POST", ENDPOINT, content=json.dumps(body).encode())
    request.headers["content-type"] = "application/json"
    del request.headers["accept"]
    if accept is not None:
        request.headers["accept"] = accept
    request.headers.update(headers)
    return await api.send(request)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


def assert_errors(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The failure shape every error answer has: the status and {"errors": [{"message"}]}."""
    assert response.status_code == status, response.text
    assert media_type(response) in (JSON, GRAPHQL_RESPONSE_JSON)
    body = response.json()
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    assert all(isinstance(error["message"], str) for error in errors)
    return errors


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, {JSON}", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, */*", JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
        (f"{JSON}; charset=utf-8", JSON),
        ("APPLICATION/JSON", JSON),
        (f"{JSON};q=0, */*", GRAPHQL_RESPONSE_JSON),
        ("text/html", None),
        (f"{JSON};q=0", None),
        (f"{JSON};q=oops", None),
        ("text/html, application/xhtml+xml", None),
    ],
)
def test_negotiate_media_type_follows_accept(accept: str | None, expected: str | None) -> None:
    assert negotiate_media_type(accept) == expected


async def test_post_query_answers_200_application_json(api: httpx.AsyncClient) -> None:
    response = await post(api, {"query": "{ hello }"}, accept=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"data": {"hello": "Hello, world!"}}


async def test_graphql_response_json_is_used_when_accepted(api: httpx.AsyncClient) -> None:
    response = await post(api, {"query": "{ hello }"}, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    assert response.json() == {"data": {"hello": "Hello, world!"}}


async def test_graphql_response_json_is_preferred_when_both_are_named(
    api: httpx.AsyncClient,
) -> None:
    response = await post(api, {"query": "{ hello }"}, accept=f"{JSON}, {GRAPHQL_RESPONSE_JSON}")
    assert media_type(response) == GRAPHQL_RESPONSE_JSON


async def test_missing_accept_gets_application_json(api: httpx.AsyncClient) -> None:
    response = await post(api, {"query": "{ hello }"})
    assert response.status_code == 200
    assert media_type(response) == JSON


async def test_wildcard_accept_gets_application_json(api: httpx.AsyncClient) -> None:
    response = await post(api, {"query": "{ hello }"}, accept="*/*")
    assert response.status_code == 200
    assert media_type(response) == JSON


async def test_responses_vary_on_accept(api: httpx.AsyncClient) -> None:
    response = await api.get(ENDPOINT, params={"query": "{ hello }"})
    assert response.headers["vary"] == "Accept"


async def test_unacceptable_accept_is_406(api: httpx.AsyncClient) -> None:
    response = await post(api, {"query": "{ hello }"}, accept="text/plain")
    assert_errors(response, 406)
    assert media_type(response) == JSON


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/graphql",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ],
)
async def test_unsupported_content_type_is_415(api: httpx.AsyncClient, content_type: str) -> None:
    response = await api.post(
        ENDPOINT, content=b'{"query": "{ hello }"}', headers={"content-type": content_type}
    )
    assert_errors(response, 415)


async def test_missing_content_type_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post(ENDPOINT, content=b'{"query": "{ hello }"}')
    assert "content-type" not in response.request.headers
    assert_errors(response, 415)


async def test_charset_other_than_utf8_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post(
        ENDPOINT,
        content='{"query": "{ hello }"}'.encode("utf-16"),
        headers={"content-type": "application/json; charset=utf-16"},
    )
    assert_errors(response, 415)


async def test_utf8_charset_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post(
        ENDPOINT,
        content='{"query": "{ hello(name: \\"Zoë 🍓\\") }"}'.encode(),
        headers={"content-type": "application/json; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, Zoë 🍓!"}}


async def test_mutation_via_get_is_405_with_allow_post(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE_JSON):
        response = await api.get(
            ENDPOINT, params={"query": "mutation { bump }"}, headers={"accept": accept}
        )
        assert_errors(response, 405)
        assert response.headers["allow"] == "POST"
    assert app.state.bumps == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
async def test_other_methods_are_405_with_allow_and_a_graphql_error(
    api: httpx.AsyncClient, method: str
) -> None:
    response = await api.request(method, ENDPOINT)
    errors = assert_errors(response, 405)
    assert response.headers["allow"] == "GET, POST"
    assert errors[0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_head_is_405_with_allow(api: httpx.AsyncClient) -> None:
    response = await api.head(ENDPOINT)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_mutation_via_post_runs(api: httpx.AsyncClient, app: FastAPI) -> None:
    response = await post(api, {"query": "mutation { bump }"}, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.json() == {"data": {"bump": 1}}
    assert app.state.bumps == 1


async def test_query_via_get_runs_with_json_variables(api: httpx.AsyncClient) -> None:
    response = await api.get(
        ENDPOINT,
        params={"query": "query($n: String) { hello(name: $n) }", "variables": '{"n": "GET"}'},
        headers={"accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, GET!"}}


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE_JSON])
async def test_malformed_json_is_400(api: httpx.AsyncClient, accept: str) -> None:
    response = await api.post(
        ENDPOINT,
        content=b'{ "not a JSON',
        headers={"content-type": "application/json", "accept": accept},
    )
    assert_errors(response, 400)
    assert media_type(response) == accept


async def test_empty_body_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(ENDPOINT, content=b"", headers={"content-type": "application/json"})
    assert_errors(response, 400)


async def test_body_not_utf8_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        ENDPOINT, content=b'{"query": "\xff"}', headers={"content-type": "application/json"}
    )
    assert_errors(response, 400)


async def test_deeply_nested_json_is_400(api: httpx.AsyncClient) -> None:
    body = b'{"query": "{ hello }", "variables": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    response = await api.post(ENDPOINT, content=body, headers={"content-type": "application/json"})
    assert_errors(response, 400)


@pytest.mark.parametrize("body", [[], [{"query": "{ hello }"}], "{ hello }", 1, True, None])
async def test_body_not_an_object_is_400(api: httpx.AsyncClient, body: object) -> None:
    assert_errors(await post(api, body), 400)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("query", 1),
        ("query", True),
        ("query", {"obj": "ect"}),
        ("query", ["{ hello }"]),
        ("variables", "string"),
        ("variables", 0),
        ("variables", False),
        ("variables", ["array"]),
        ("operationName", 1),
        ("operationName", False),
        ("operationName", {"obj": "ect"}),
        ("operationName", ["array"]),
        ("extensions", "string"),
        ("extensions", 0),
        ("extensions", ["array"]),
    ],
)
async def test_parameter_of_wrong_type_is_400(
    api: httpx.AsyncClient, parameter: str, value: object
) -> None:
    body = {"query": "{ hello }", parameter: value}
    errors = assert_errors(await post(api, body, accept=JSON), 400)
    assert parameter in errors[0]["message"]


@pytest.mark.parametrize("parameter", ["variables", "operationName", "extensions"])
async def test_null_parameters_are_allowed(api: httpx.AsyncClient, parameter: str) -> None:
    response = await post(api, {"query": "{ hello }", parameter: None}, accept=JSON)
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, world!"}}


@pytest.mark.parametrize("body", [{}, {"qeury": "{ hello }"}, {"query": None}, {"query": ""}])
async def test_missing_query_is_400(api: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert_errors(await post(api, body, accept=JSON), 400)


async def test_get_without_query_is_400_json(api: httpx.AsyncClient) -> None:
    response = await api.get(ENDPOINT, headers={"accept": "*/*"})
    assert_errors(response, 400)


@pytest.mark.parametrize("variables", ["{", "[1]", '"x"'])
async def test_get_variables_not_a_json_object_is_400(
    api: httpx.AsyncClient, variables: str
) -> None:
    response = await api.get(ENDPOINT, params={"query": "{ hello }", "variables": variables})
    assert_errors(response, 400)


REQUEST_ERRORS = {
    "parse": {"query": "{"},
    "validation": {"query": "{ nope }"},
    "variable coercion": {
        "query": "query($n: String!) { hello(name: $n) }",
        "variables": {"n": None},
    },
    "unknown operation": {"query": "query A { hello }", "operationName": "B"},
}


@pytest.mark.parametrize("body", REQUEST_ERRORS.values(), ids=REQUEST_ERRORS.keys())
async def test_request_error_is_400_without_data_for_graphql_response_json(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await post(api, body, accept=GRAPHQL_RESPONSE_JSON)
    assert_errors(response, 400)
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    assert "data" not in response.json()


@pytest.mark.parametrize("body", REQUEST_ERRORS.values(), ids=REQUEST_ERRORS.keys())
async def test_request_error_is_200_without_data_for_application_json(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await post(api, body, accept=JSON)
    assert_errors(response, 200)
    assert media_type(response) == JSON
    assert "data" not in response.json()


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE_JSON])
async def test_field_error_with_data_is_200(api: httpx.AsyncClient, accept: str) -> None:
    response = await post(api, {"query": '{ hello(name: "fail") }'}, accept=accept)
    errors = assert_errors(response, 200)
    assert response.json()["data"] == {"hello": None}
    assert errors[0]["path"] == ["hello"]


MISTAKES: list[tuple[str, dict[str, Any]]] = [
    ("POST", {"content": b"", "headers": {"content-type": "application/json"}}),
    ("POST", {"content": b"\x00\x01", "headers": {"content-type": "application/json"}}),
    ("POST", {"content": b"[[[[", "headers": {"content-type": "application/json"}}),
    ("POST", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
    ("POST", {"content": b'"just a string"', "headers": {"content-type": "application/json"}}),
    ("POST", {"content": b'{"query": "{ hello }"}', "headers": {"content-type": "text/json"}}),
    ("POST", {"content": b'{"query": "{ hello }"}', "headers": {"content-type": ";;;"}}),
    ("POST", {"json": {"query": "{ hello }"}, "headers": {"accept": "garbage"}}),
    ("POST", {"json": {"query": "{ hello }"}, "headers": {"accept": ";q=1, /"}}),
    ("POST", {"json": {"query": "{ hello(name: 1) }"}}),
    ("POST", {"json": {"query": "query($n: Int) { hello(name: $n) }", "variables": {"n": "x"}}}),
    ("POST", {"json": {"query": "subscription { hello }"}}),
    ("POST", {"json": {"query": "fragment F on Query { hello }"}}),
    ("POST", {"json": {"query": "query A { hello } query A { hello }"}}),
    ("POST", {"json": {"query": "{" * 10_000}}),
    ("GET", {"params": {"query": "{ hello }", "extensions": "[]"}}),
    ("GET", {"params": {"query": "{ hello }", "operationName": "Nope"}}),
    ("GET", {"params": {"query": "subscription { hello }"}}),
    ("GET", {"params": {"query": "{ hello }"}, "headers": {"accept": "text/html"}}),
]


@pytest.mark.parametrize(("method", "request_args"), MISTAKES)
async def test_client_mistakes_never_get_a_500(
    api: httpx.AsyncClient, method: str, request_args: dict[str, Any]
) -> None:
    response = await api.request(method, ENDPOINT, **request_args)
    assert response.status_code < 500, response.text
    assert_errors(response, response.status_code)


@pytest.fixture
def audit_script() -> Path:
    """The audit script, runnable: skips without node or its packages, fails so under CI."""
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        reason = "graphql-http is not installed: run `npm ci --prefix tests/http_audit`"
    else:
        return AUDIT_DIR / "audit.mjs"
    if IN_CI:
        pytest.fail(f"CI=true but the GraphQL-over-HTTP audit cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def live_endpoint() -> Iterator[str]:
    """The tiny app under uvicorn on a free 127.0.0.1 port, in a background thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(), log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn exited before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 seconds"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{ENDPOINT}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_graphql_http_server_audit_passes(audit_script: Path, live_endpoint: str) -> None:
    """graphql-http's serverAudits: every MUST and SHOULD passes (the script exits 1 if not)."""
    audit = subprocess.run(
        ["node", str(audit_script), live_endpoint],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "0 MUST failed, 0 SHOULD failed" in audit.stdout
