"""Helpers of the tests with a streaming replica (the `replicated` fixture of conftest.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tests.support.app import graphql
from tests.support.postgres import Replicated, execute_sql

REGISTER = """
mutation ($username: String!, $email: String!) {
  register(input: {username: $username, email: $email, password: "correct horse 1"}) {
    ... on AuthSuccess { token user { id } }
  }
}
"""


CREATE_POST = """
mutation ($title: String!) {
  createPost(input: {title: $title, body: "b"}) { ... on CreatePostSuccess { post { id } } }
}
"""


@dataclass(frozen=True)
class Registered:
    """A user registered through the app (on the primary), and where that commit is."""

    token: str
    id: str
    read_after: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: httpx.AsyncClient) -> Registered:
    username = f"u{uuid.uuid4().hex[:12]}"
    body = await graphql(
        client, REGISTER, {"username": username, "email": f"{username}@example.com"}
    )
    auth = body["data"]["register"]
    return Registered(auth["token"], auth["user"]["id"], body["extensions"]["readAfter"])


async def replayed(pair: Replicated, position: str) -> None:
    """Wait for the replica to replay up to `position`."""

    async def holds() -> bool:
        connection = await asyncpg.connect(pair.replica_url)
        try:
            done: bool = await connection.fetchval(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", position
            )
        finally:
            await connection.close()
        return done

    await until(holds)


async def pause_replay(pair: Replicated) -> None:
    await execute_sql(pair.replica_url, "SELECT pg_wal_replay_pause()")


async def resume_replay(pair: Replicated) -> None:
    await execute_sql(pair.replica_url, "SELECT pg_wal_replay_resume()")


async def replica_report(client: httpx.AsyncClient, number: int = 1) -> dict[str, Any]:
    """Replica `number` as `/readyz` reports it."""
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["replicas"][number - 1]
    return report


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Wait for `condition` to hold (the replica's state changes on the app's next check)."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def in_rotation(client: httpx.AsyncClient, wanted: bool = True, number: int = 1) -> None:
    async def holds() -> bool:
        return bool((await replica_report(client, number))["inRotation"]) is wanted

    await until(holds)


# A query whose read units the replica may serve.
POSTS = "{ posts(first: 5) { edges { node { title author { username } } } } }"
