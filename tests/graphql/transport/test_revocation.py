"""Issue 14: a subscription authenticated with a token stops once the token is no longer live
(expired, revoked by `changePassword` or `logout`, its user deleted), over WebSockets (4403)
and multipart HTTP (a last part with a coded error), on real servers and both databases; and
the worker checks every socket's token in one statement per interval (PostgreSQL's
pg_stat_statements counts them)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from tests.graphql.transport.conftest import Live
from tests.support.app import AuthUser
from tests.support.realtime import (
    ADD_COMMENT,
    COMMENT_ADDED,
    DELETE_ACCOUNT,
    PASSWORD,
    WAIT_SECONDS,
    another_token,
    call,
    close_code,
    connected,
    make_member,
    new_post,
    subscribe,
)
from tests.support.server import serving

CHANGE_PASSWORD = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { __typename } }"
LOGOUT = "mutation { logout { __typename } }"
POST_ADDED = "subscription { postAdded { title } }"
MULTIPART = "multipart/mixed;subscriptionSpec=1.0, application/json"
BOUNDARY = "\r\n--graphql"
SOCKETS = 12
CHECKS = 3
# What pg_stat_statements shows of every statement that reads the tokens.
_TOKEN_STATEMENTS = (
    "SELECT query, calls, rows FROM pg_stat_statements"
    " WHERE query LIKE '%auth_tokens%' AND query NOT LIKE '%pg_stat_statements%'"
)


async def member(
    live: Live, *, password: str | None = None, expires_in: timedelta = timedelta(days=1)
) -> AuthUser:
    username = f"u{uuid.uuid4().hex[:12]}"
    return await make_member(live.url, username, password=password, expires_in=expires_in)


async def _rest(chunks: AsyncIterator[str]) -> str:
    return "".join([chunk async for chunk in chunks])


async def test_an_expiring_token_closes_the_socket_with_4403(live: Live) -> None:
    user = await member(live, expires_in=timedelta(seconds=3))
    socket = await connected(live.subscribed.base_url, user)
    await subscribe(socket, "1", POST_ADDED)
    assert await close_code(socket) == 4403


async def test_change_password_closes_the_sockets_of_the_other_tokens_with_4403(
    live: Live,
) -> None:
    user = await member(live, password=PASSWORD)
    other = dataclasses.replace(user, headers=await another_token(live.url, user.pk))
    socket = await connected(live.subscribed.base_url, other)
    variables = {"currentPassword": PASSWORD, "newPassword": "another password"}
    changed = await call(live.writer.base_url, CHANGE_PASSWORD, user, v=variables)
    assert changed["data"]["changePassword"]["__typename"] == "ChangePasswordSuccess"
    assert await close_code(socket) == 4403


async def test_deleting_the_account_closes_its_sockets_with_4403(live: Live) -> None:
    user = await member(live, password=PASSWORD)
    socket = await connected(live.subscribed.base_url, user)
    deleted = await call(live.writer.base_url, DELETE_ACCOUNT, user, v={"password": PASSWORD})
    assert deleted["data"]["deleteAccount"]["__typename"] == "DeleteAccountSuccess"
    assert await close_code(socket) == 4403


def _parts(text: str) -> list[dict[str, object]]:
    """The JSON bodies of a multipart response's parts, heartbeats (`{}`) left out."""
    bodies = []
    for part in text.split(BOUNDARY):
        _, separator, body = part.partition("\r\n\r\n")
        if separator and json.loads(body):
            bodies.append(json.loads(body))
    return bodies


async def test_a_multipart_subscription_ends_with_a_coded_error_when_its_token_is_revoked(
    live: Live,
) -> None:
    user = await member(live)
    post = await new_post(live.writer.base_url, user)
    body = {"query": COMMENT_ADDED, "variables": {"post": post}}
    headers = {"Accept": MULTIPART} | user.headers
    received = ""
    async with (
        httpx.AsyncClient(base_url=live.subscribed.base_url, timeout=WAIT_SECONDS) as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        chunks = response.aiter_text()
        for attempt in range(20):  # until an event shows the subscription is live
            await call(live.writer.base_url, ADD_COMMENT, user, post=post, body=f"p{attempt}")
            received += await asyncio.wait_for(anext(chunks), WAIT_SECONDS)
            if _parts(received):
                break
        await call(live.writer.base_url, LOGOUT, user)
        received += await asyncio.wait_for(_rest(chunks), WAIT_SECONDS)
    *events, last = _parts(received)
    assert events
    assert last == {
        "payload": None,
        "errors": [
            {
                "message": "The token was revoked or expired: the subscription ended.",
                "extensions": {"code": "NOT_AUTHENTICATED"},
            }
        ],
    }
    assert received.endswith("\r\n--graphql--\r\n")


async def _token_statements(url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(_TOKEN_STATEMENTS)
    finally:
        await connection.close()


async def test_one_statement_per_interval_checks_the_tokens_of_every_socket(
    statements_counted_url: str, tmp_path: Path
) -> None:
    users = [await make_member(statements_counted_url, f"socket{n}") for n in range(SOCKETS)]
    with serving(statements_counted_url, tmp_path / "serve.log", ws_auth_recheck_seconds=0.2) as s:
        sockets = [await connected(s.base_url, user) for user in users]
        connection = await asyncpg.connect(statements_counted_url)
        try:
            await connection.execute("SELECT pg_stat_statements_reset()")
        finally:
            await connection.close()
        for _ in range(100):
            statements = await _token_statements(statements_counted_url)
            if sum(statement["calls"] for statement in statements) >= CHECKS:
                break
            await asyncio.sleep(0.2)
        for socket in sockets:
            await socket.close()
    [(query, calls, rows)] = statements
    assert "ANY" in query
    assert calls >= CHECKS
    assert rows == calls * SOCKETS
