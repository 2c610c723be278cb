"""Input Python parses but cannot pass on (a lone surrogate, an integer too long to read) is a
client error that names the problem, never INTERNAL_SERVER_ERROR or Python's own message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_app.core.config import load_settings
from tests.support.app import graphql, graphql_data, running_app
from tests.support.server import serving

BY_NAME = "query($u: String!) { userByUsername(username: $u) { id } }"
LONE_SURROGATE = "The request has a lone UTF-16 surrogate"
# Raw bodies: a JSON encoder would refuse to write the lone surrogate these escape.
SURROGATE_BODIES = {
    "variable": b'{"query": "%s", "variables": {"u": "a\\ud800"}}' % BY_NAME.encode(),
    "variable name": b'{"query": "{ __typename }", "variables": {"\\ud800": 1}}',
    "query text": b'{"query": "{ userByUsername(username: \\"\\udc00\\") { id } }"}',
    "operationName": b'{"query": "{ __typename }", "operationName": "\\ud800"}',
    "extensions": b'{"query": "{ __typename }", "extensions": {"k": ["\\udbff"]}}',
}
NINES = "9" * 5000
PYTHON_WORDS = ("int_max_str_digits", "integer string conversion", "Exceeds the limit")


async def _post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/graphql", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body", SURROGATE_BODIES.values(), ids=SURROGATE_BODIES.keys())
async def test_a_lone_surrogate_anywhere_in_the_body_is_a_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await _post(client, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"].startswith(LONE_SURROGATE)


async def test_a_lone_surrogate_in_a_known_query_is_a_400_on_the_fast_path(
    client: httpx.AsyncClient,
) -> None:
    await graphql_data(client, BY_NAME, {"u": "a"})  # the full path validates it once
    response = await _post(client, SURROGATE_BODIES["variable"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(LONE_SURROGATE)


async def test_a_lone_surrogate_in_get_variables_is_a_400(client: httpx.AsyncClient) -> None:
    params = {"query": BY_NAME, "variables": '{"u": "\\ud800"}'}
    response = await client.get("/graphql", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(LONE_SURROGATE)


async def test_an_escaped_surrogate_pair_is_an_ordinary_character(
    client: httpx.AsyncClient,
) -> None:
    response = await _post(client, SURROGATE_BODIES["variable"].replace(b"d800", b"d83d\\ude00"))
    assert response.json() == {
        "data": {"userByUsername": None},
        "extensions": {"cost": {"requested": 2, "limit": 50000}},
    }


async def test_a_lone_surrogate_in_a_mutation_is_not_logged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ["", "sqlalchemy.engine", "aiosqlite", "asyncpg", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    register = "mutation($v: RegisterInput!) { register(input: $v) { __typename } }"
    body = (
        b'{"query": "%s", "variables": {"v": {"username": "sur\\ud800rogate", '
        b'"email": "s@example.com", "password": "secret \\udc00 password"}}}'
    ) % register.encode()
    async with running_app(load_settings(database_url=database_url, db_echo=True)) as (_, client):
        response = await _post(client, body)
    assert response.status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "rogate" not in logged
    assert "password" not in logged
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("number", [NINES, "-" + NINES])
async def test_a_json_number_too_long_to_read_is_a_400_that_says_so(
    client: httpx.AsyncClient, number: str
) -> None:
    body = (
        b'{"query": "query($n: Int) { posts(first: $n) { totalCount } }", "variables": {"n": %s}}'
    )
    response = await _post(client, body % number.encode())
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"] == "A number has 5,000 digits; at most 4,300 are accepted."


@pytest.mark.parametrize(
    "query",
    [
        f"{{ posts(first: {NINES}) {{ totalCount }} }}",
        f"{{ posts(first: -{NINES}) {{ totalCount }} }}",
        f"{{ user(id: {NINES}) {{ id }} }}",
        f"query($n: Int = {NINES}) {{ posts(first: $n) {{ totalCount }} }}",
    ],
    ids=["Int argument", "negative", "ID argument", "variable default"],
)
async def test_an_int_literal_too_long_to_read_is_bad_user_input(
    client: httpx.AsyncClient, query: str
) -> None:
    body: dict[str, Any] = await graphql(client, query)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "A number has 5,000 digits; at most 4,300 are accepted."
    assert "data" not in body


async def test_int_literals_python_can_read_get_graphqls_own_range_error(
    client: httpx.AsyncClient,
) -> None:
    """Nested, their product would have more digits than Python writes; such a literal never
    coerces to an Int, so the measure (reading arguments as execution does) counts the default
    page and the cost stays a number the response can write."""
    nines = "9" * 4300
    query = (
        f"{{ posts(first: {nines}) {{ edges {{ node"
        f" {{ comments(first: {nines}) {{ totalCount }} }} }} }} }}"
    )
    body = await graphql(client, query)
    messages = [error["message"] for error in body["errors"]]
    out_of_range = "Int cannot represent non 32-bit signed integer value"
    assert len([m for m in messages if m.startswith(out_of_range)]) == 2
    assert body["extensions"]["cost"]["requested"] < 50000
    assert not any(word in m for m in messages for word in PYTHON_WORDS)


def test_a_served_app_refuses_unreadable_input_and_logs_none_of_it(
    database_url: str, tmp_path: Path
) -> None:
    """Over the wire to `gql-app serve`, with SQL echoed: typed answers, none of the values in
    its log, no error logged."""
    log = tmp_path / "serve.log"
    literal = f"{{ posts(first: {NINES}) {{ totalCount }} }}".encode()
    marked = SURROGATE_BODIES["variable"].replace(b"a\\ud800", b"marker\\ud800")
    with serving(database_url, log, db_echo="true") as served, httpx.Client() as http:
        url = served.base_url + "/graphql"
        post = http.post(url, content=marked, headers={"content-type": "application/json"})
        number = http.post(url, json={"query": literal.decode()})
    assert post.status_code == 400
    assert post.json()["errors"][0]["message"].startswith(LONE_SURROGATE)
    assert number.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    text = log.read_text(errors="replace")
    assert "INFO sqlalchemy.engine.Engine" in text  # the log, SQL echoed, was captured
    assert "marker" not in text
    assert NINES not in text
    assert "Traceback" not in text
    assert " ERROR " not in text
