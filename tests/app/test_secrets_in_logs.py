"""No response and no log line holds a password, a password hash or a token (contract 7),
with every logger at DEBUG, the engine echoing SQL (`DB_ECHO`), the access log on and every
operation logged as slow; the lines written as `serve` writes them, in JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gql_app.core.config import load_settings
from gql_app.core.observability import LogFormatter
from gql_app.db import RequestSession
from gql_app.db.models import User
from gql_app.domain.security import hash_token
from tests.support.app import bearer_headers, create_legacy_user, running_app

PASSWORD, NEW_PASSWORD, LEGACY_PASSWORD = "first secret pw", "second secret pw", "legacy secret"
AUTH = """__typename ... on AuthSuccess { token user { username email } }"""
REGISTER = f"mutation($v: RegisterInput!) {{ register(input: $v) {{ {AUTH} }} }}"
LOGIN = f"mutation($v: LoginInput!) {{ login(input: $v) {{ {AUTH} }} }}"
CHANGE = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { __typename } }"
UPDATE = "mutation($v: UpdateProfileInput!) { updateProfile(input: $v) { __typename } }"
DELETE = "mutation($v: DeleteAccountInput!) { deleteAccount(input: $v) { __typename } }"
LOGOUT = "mutation { logout { __typename } }"


@dataclass
class Flows:
    """What the account flows sent and received, and the secrets they involved."""

    responses: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    json_lines: list[str] = field(default_factory=list)
    passwords: list[str] = field(default_factory=lambda: [PASSWORD, NEW_PASSWORD, LEGACY_PASSWORD])
    password_hashes: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        token_hashes = [hash_token(token) for token in self.tokens]
        return self.passwords + self.password_hashes + self.tokens + token_hashes


async def _password_hashes(db: RequestSession) -> list[str]:
    async with db.transaction() as session:
        return list((await session.execute(select(User.password_hash))).scalars())


async def _run_flows(client: httpx.AsyncClient, db: RequestSession, flows: Flows) -> None:
    async def send(query: str, variables: Any = None, token: str | None = None) -> Any:
        headers = bearer_headers(token) if token else None
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        flows.responses.append(response.text)
        flows.request_ids.append(response.headers["X-Request-ID"])
        body = response.json()
        (result,) = body["data"].values()
        if isinstance(result, dict) and "token" in result:
            flows.tokens.append(result["token"])
        return result

    fields = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    token = (await send(REGISTER, {"v": fields}))["token"]
    await send(REGISTER, {"v": fields})  # UsernameTaken
    await send(LOGIN, {"v": {"login": "alice", "password": "wrong " + PASSWORD}})
    await send(LOGIN, {"v": {"login": "nobody", "password": PASSWORD}})
    await send(LOGIN, {"v": {"login": "alice", "password": PASSWORD}})
    await send("{ me { username email } }", token=token)
    await send(CHANGE, {"v": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}, token)
    await send(UPDATE, {"v": {"email": "alice@example.org"}}, token)
    await create_legacy_user(db, "legacy", LEGACY_PASSWORD)
    flows.password_hashes.extend(await _password_hashes(db))
    await send(LOGIN, {"v": {"login": "legacy", "password": LEGACY_PASSWORD}})  # rehashed
    flows.password_hashes.extend(await _password_hashes(db))
    await send(LOGOUT, token=token)
    login = await send(LOGIN, {"v": {"login": "alice", "password": NEW_PASSWORD}})
    await send(DELETE, {"v": {"password": NEW_PASSWORD}}, login["token"])


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's log lines in `serve`'s JSON format (`LOG_FORMAT=json`)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(json=True))
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
async def flows(
    database_url: str, db: RequestSession, caplog: pytest.LogCaptureFixture, json_log: io.StringIO
) -> Flows:
    """The account flows, run on an app that echoes SQL and logs every request (access and
    slow-operation lines), with every logger at DEBUG."""
    settings = load_settings(
        database_url=database_url, db_echo=True, access_log=True, slow_operation_ms=1
    )
    for name in ["", "sqlalchemy.engine", "aiosqlite", "asyncpg", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    flows = Flows()
    async with running_app(settings) as (_, client):
        await _run_flows(client, db, flows)
    flows.json_lines = json_log.getvalue().splitlines()
    assert len(flows.tokens) == 4
    assert len(set(flows.password_hashes)) == 3
    return flows


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every line logged while the `flows` fixture ran, tracebacks included."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    return "\n".join(handler.format(record) for record in caplog.get_records("setup"))


def test_the_sql_of_the_flows_was_logged(flows: Flows, caplog: pytest.LogCaptureFixture) -> None:
    text = _log_text(caplog)
    assert "INSERT INTO users" in text
    assert "UPDATE users SET password_hash" in text
    assert "[SQL parameters hidden due to hide_parameters=True]" in text


def test_no_log_line_holds_a_password_a_hash_or_a_token(
    flows: Flows, caplog: pytest.LogCaptureFixture
) -> None:
    text = _log_text(caplog)
    leaked = [secret for secret in flows.secrets if secret in text]
    assert leaked == []


def test_no_json_log_line_holds_a_password_a_hash_or_a_token(flows: Flows) -> None:
    text = "\n".join(flows.json_lines)
    assert [secret for secret in flows.secrets if secret in text] == []


def test_every_json_log_line_parses_and_each_request_has_its_access_line(flows: Flows) -> None:
    entries = [json.loads(line) for line in flows.json_lines]
    access = [entry["request_id"] for entry in entries if entry["logger"] == "gql_app.access"]
    assert access == flows.request_ids


def test_the_slow_operation_lines_carry_request_ids_of_the_flows(flows: Flows) -> None:
    entries = [json.loads(line) for line in flows.json_lines]
    slow = [entry for entry in entries if entry["logger"] == "gql_app.slow"]
    assert slow  # a registration (a hash, a committed write) takes more than a millisecond
    assert {entry["request_id"] for entry in slow} <= set(flows.request_ids)


def test_no_response_holds_a_password_or_a_password_hash(flows: Flows) -> None:
    secrets = flows.passwords + flows.password_hashes
    leaked = [secret for response in flows.responses for secret in secrets if secret in response]
    assert leaked == []


def test_a_token_appears_only_in_the_response_that_issued_it(flows: Flows) -> None:
    for token in flows.tokens:
        assert sum(token in response for response in flows.responses) == 1
    hashes = [hash_token(token) for token in flows.tokens]
    assert not any(digest in response for response in flows.responses for digest in hashes)
