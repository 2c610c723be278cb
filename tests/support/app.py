"""The app in a test: run in process, GraphQL posted to it, statements logged, users made."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from passlib.hash import bcrypt

from gql_app import queries
from gql_app.app import create_app
from gql_app.core.config import Settings
from gql_app.db import RequestSession


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real ASGI app with its lifespan started, and a client speaking to it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


def graphql_post_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a `POST /graphql` with raw `headers`, for a test that drives the app
    itself (what a client library would add or read stays out of the way)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }


AppWith = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class StatementLog:
    """The SQL statements an engine ran, for asserting counts (DESIGN.md contract 4)."""

    statements: list[str] = field(default_factory=list)

    def queries(self) -> list[str]:
        """The statements that did work: transaction control excluded."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return [s for s in self.statements if not s.lstrip().upper().startswith(control)]

    def clear(self) -> None:
        self.statements.clear()


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation to the app; the response body."""
    body: dict[str, Any] = (await post_graphql(client, query, variables, headers=headers)).json()
    return body


async def post_graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a GraphQL operation to the app, as `token`'s user if given; the response."""
    if token:
        headers = bearer_headers(token)
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def graphql_data(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `data` of an operation that must succeed without errors."""
    body = await graphql(client, query, variables, headers=headers)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


@dataclass(frozen=True)
class AuthUser:
    """A user with a live token: `headers` authenticate requests as them."""

    pk: int
    id: str
    username: str
    headers: dict[str, str]


MakeUser = Callable[[str], Awaitable[AuthUser]]


def bearer_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class MakePost(Protocol):
    async def __call__(
        self, author: AuthUser, title: str = ..., body: str = ..., *, minute: int = ...
    ) -> str: ...


class MakeComment(Protocol):
    async def __call__(
        self, author: AuthUser, post_id: str, body: str = ..., *, minute: int = ...
    ) -> str: ...


async def create_legacy_user(db: RequestSession, username: str, password: str) -> None:
    """A user whose password was hashed with bcrypt, as an older system stored it."""
    async with db.transaction(write=True) as session:
        await queries.create_user(
            session,
            username=username,
            email=f"{username}@example.com",
            password_hash=bcrypt.using(rounds=4).hash(password),
        )


@dataclass
class CompiledRuns:
    """How many operations ran through a compiled plan (gql_app/graphql/execution/)."""

    count: int = 0
