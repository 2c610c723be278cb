"""Logs for operators (gql_app/core/observability.py): one format, request ids on every line
written during a request, the app's access line and the slow-operation warning."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from gql_app.core.config import load_settings
from gql_app.core.observability import (
    LogFormatter,
    Observer,
    begin_request,
    current_record,
    log_config,
)
from gql_app.graphql.observation import observe_operation
from tests.support.app import AppWith, MakeUser, post_graphql

SECRET_LITERAL = "literal-secret-value"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log line of the process while the test runs, as `serve` writes them in JSON."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(json=True))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _line(logger: str, message: str = "hello") -> logging.LogRecord:
    return logging.LogRecord(logger, logging.INFO, __file__, 1, message, None, None)


def test_a_text_line_carries_the_request_id_of_the_request_being_served() -> None:
    record = begin_request("abc-123", "POST", "/graphql")
    try:
        line = LogFormatter().format(_line("gql_app.test"))
    finally:
        Observer(load_settings(), None).finish(record, 200)
    assert line.endswith("INFO gql_app.test hello [request abc-123]")


def test_a_line_written_outside_any_request_has_no_request_id() -> None:
    assert current_record() is None
    entry = json.loads(LogFormatter(json=True).format(_line("uvicorn.error", "started")))
    assert entry.keys() == {"time", "level", "logger", "message"}
    assert (entry["logger"], entry["message"]) == ("uvicorn.error", "started")


def test_a_json_line_holds_the_traceback_of_its_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        line = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        line.exc_info = sys.exc_info()
    entry = json.loads(LogFormatter(json=True).format(line))
    assert "ValueError: boom" in entry["exception"]


def test_log_lines_are_json_in_production_and_text_in_development() -> None:
    assert load_settings(environment="production").log_json
    assert not load_settings(environment="development").log_json
    assert not load_settings(environment="production", log_format="TEXT").log_json


def test_serve_gives_uvicorn_and_the_root_logger_one_formatter_at_log_level() -> None:
    config = log_config(load_settings(log_level="WARNING", log_format="json"))
    assert config["formatters"]["default"]["json"] is True
    assert config["root"] == {"handlers": ["default"], "level": "WARNING"}
    assert config["loggers"]["uvicorn"]["handlers"] == ["default"]


def test_a_slow_operation_is_logged_with_its_hash_and_counts_never_its_text(
    json_lines: io.StringIO,
) -> None:
    record = begin_request("slow-1", "POST", "/graphql")
    observe_operation(f'{{ userByUsername(username: "{SECRET_LITERAL}") {{ id }} }}', None, "query")
    record.statements, record.cost, record.outcome = 2, 3, "ok"
    record.started -= 2.0  # as if it had begun two seconds ago
    Observer(load_settings(slow_operation_ms=1000), None).finish(record, 200)
    (entry,) = _parsed(json_lines)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "gql_app.slow"
    assert entry["request_id"] == "slow-1"
    assert len(entry["document_hash"]) == 16
    assert (entry["statements"], entry["cost"], entry["operation_type"]) == (2, 3, "query")
    assert SECRET_LITERAL not in json_lines.getvalue()


def test_an_operation_under_slow_operation_ms_is_not_logged(json_lines: io.StringIO) -> None:
    record = begin_request("quick-1", "POST", "/graphql")
    observe_operation("{ me { id } }", None, "query")
    Observer(load_settings(slow_operation_ms=60_000), None).finish(record, 200)
    assert _parsed(json_lines) == []


USERS = "query Users { users(first: 2) { edges { node { posts(first: 1) { totalCount } } } } }"


async def test_the_access_line_is_the_same_on_the_full_path_and_the_fast_path(
    app_with: AppWith, make_user: MakeUser, json_lines: io.StringIO
) -> None:
    await make_user("alice")
    async with app_with(access_log=True) as client:
        for request_id in ("full-path", "fast-path"):
            await post_graphql(client, USERS, headers={"X-Request-ID": request_id})
    access = [entry for entry in _parsed(json_lines) if entry["logger"] == "gql_app.access"]
    assert [entry["request_id"] for entry in access] == ["full-path", "fast-path"]
    for entry in access:
        assert entry["method"] == "POST"
        assert entry["path"] == "/graphql"
        assert entry["status"] == 200
        assert entry["operation_name"] == "Users"
        assert entry["operation_type"] == "query"
        assert entry["statements"] == 3  # users, their posts' counts, their posts
        assert entry["outcome"] == "ok"
    assert access[0]["cost"] == access[1]["cost"] > 0


CREATE_POST = (
    'mutation CreatePost($title: String!) { createPost(input: {title: $title, body: "b"}) {'
    " __typename ... on CreatePostSuccess { post { title author { username } } } } }"
)


async def test_a_mutations_access_line_is_the_same_on_the_full_path_and_the_fast_path(
    app_with: AppWith, make_user: MakeUser, json_lines: io.StringIO
) -> None:
    alice = await make_user("alice")
    async with app_with(access_log=True) as client:
        for request_id in ("full-path", "fast-path"):
            headers = alice.headers | {"X-Request-ID": request_id}
            await post_graphql(client, CREATE_POST, {"title": request_id}, headers=headers)
    access = [entry for entry in _parsed(json_lines) if entry["logger"] == "gql_app.access"]
    assert [entry["request_id"] for entry in access] == ["full-path", "fast-path"]
    fields = ("status", "operation_name", "operation_type", "outcome")
    for entry in access:
        assert tuple(entry[name] for name in fields) == (200, "CreatePost", "mutation", "ok")
        # the viewer's lookup, the insert (with its pg_notify on PostgreSQL); the author primed
        assert entry["statements"] == 2
    assert access[0]["statements"] == access[1]["statements"]
    assert access[0]["cost"] == access[1]["cost"] > 0


async def test_the_access_line_names_the_error_code_of_a_failed_operation(
    app_with: AppWith, json_lines: io.StringIO
) -> None:
    async with app_with(access_log=True) as client:
        await post_graphql(client, '{ users(first: 1, after: "bogus") { totalCount } }')
    (entry,) = [entry for entry in _parsed(json_lines) if entry["logger"] == "gql_app.access"]
    assert entry["outcome"] == "BAD_USER_INPUT"
    assert entry["operation_name"] is None


async def test_the_sql_lines_of_a_request_carry_its_request_id(
    app_with: AppWith, make_user: MakeUser, json_lines: io.StringIO
) -> None:
    alice = await make_user("alice")
    async with app_with(db_echo=True) as client:
        headers = alice.headers | {"X-Request-ID": "with-sql"}
        await post_graphql(client, "{ me { username } }", headers=headers)
    sql = [entry for entry in _parsed(json_lines) if entry["logger"].startswith("sqlalchemy")]
    assert any("FROM users" in entry["message"] for entry in sql)
    assert {entry.get("request_id") for entry in sql} == {"with-sql"}


async def test_no_access_line_is_written_without_access_log(
    app_with: AppWith, json_lines: io.StringIO
) -> None:
    async with app_with() as client:
        await client.get("/healthz")
    assert [entry for entry in _parsed(json_lines) if entry["logger"] == "gql_app.access"] == []
