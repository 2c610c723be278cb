"""The floor server (bench-only, not part of the product): a bare Starlette endpoint that
runs the same batched SQL as gql_app with raw asyncpg and returns the same JSON, without
GraphQL. It dispatches on the request's `operationName` and never parses the document.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Json = dict[str, Any]
Handler = Callable[[asyncpg.Pool, Json, str | None], Awaitable[Json]]

USERS_PAGE = "SELECT id, username FROM users ORDER BY id LIMIT $1"
USERS_BY_ID = "SELECT id, username FROM users WHERE id = ANY($1::bigint[])"
USER_BY_ID = "SELECT username FROM users WHERE id = $1"
POSTS_OF_AUTHORS = (
    "SELECT id, author_id, title FROM ("
    " SELECT id, author_id, title, row_number() OVER"
    " (PARTITION BY author_id ORDER BY created_at DESC, id DESC) AS rank"
    " FROM posts WHERE author_id = ANY($1::bigint[])) AS ranked"
    " WHERE rank <= $2 ORDER BY author_id, rank"
)
COMMENTS_OF_POSTS = (
    "SELECT id, post_id, author_id, body FROM ("
    " SELECT id, post_id, author_id, body, row_number() OVER"
    " (PARTITION BY post_id ORDER BY created_at, id) AS rank"
    " FROM comments WHERE post_id = ANY($1::bigint[])) AS ranked"
    " WHERE rank <= $2 ORDER BY post_id, rank"
)


def global_id(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def decode_id(value: str) -> int:
    return int(base64.b64decode(value).decode().partition(":")[2])


def _group(rows: list[asyncpg.Record], key: str) -> dict[int, list[asyncpg.Record]]:
    groups: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


def _user(row: asyncpg.Record) -> Json:
    return {"id": global_id("User", row["id"]), "username": row["username"]}


async def nested(pool: asyncpg.Pool, variables: Json, _auth: str | None) -> Json:
    async with pool.acquire() as connection:
        users = await connection.fetch(USERS_PAGE, variables["users"])
        posts = await connection.fetch(
            POSTS_OF_AUTHORS, [row["id"] for row in users], variables["posts"]
        )
        comments = await connection.fetch(
            COMMENTS_OF_POSTS, [row["id"] for row in posts], variables["comments"]
        )
        authors = await connection.fetch(USERS_BY_ID, list({row["author_id"] for row in comments}))
    author_of = {row["id"]: _user(row) for row in authors}
    comments_of = _group(comments, "post_id")
    posts_of = _group(posts, "author_id")
    return {
        "users": {
            "edges": [
                {
                    "node": {
                        **_user(user),
                        "posts": {
                            "edges": [
                                {
                                    "node": {
                                        "id": global_id("Post", post["id"]),
                                        "title": post["title"],
                                        "comments": {
                                            "edges": [
                                                {
                                                    "node": {
                                                        "id": global_id("Comment", c["id"]),
                                                        "body": c["body"],
                                                        "author": author_of[c["author_id"]],
                                                    }
                                                }
                                                for c in comments_of.get(post["id"], [])
                                            ]
                                        },
                                    }
                                }
                                for post in posts_of.get(user["id"], [])
                            ]
                        },
                    }
                }
                for user in users
            ]
        }
    }


async def tiny(pool: asyncpg.Pool, variables: Json, _auth: str | None) -> Json:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(USER_BY_ID, decode_id(variables["id"]))
    return {"user": {"username": row["username"]} if row else None}


HANDLERS: dict[str, Handler] = {"Nested": nested, "Tiny": tiny}


async def _keep(_connection: asyncpg.Connection) -> None:
    """Nothing to reset: the floor sets no session state."""


def create_app() -> Starlette:
    """The floor app; `FLOOR_DATABASE_URL` is a libpq-style PostgreSQL URL."""
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # gql_app's pool: 10 connections kept, 20 more at peaks. The floor's connections keep
        # no session state, so the per-release RESET ALL/UNLISTEN round trip is skipped.
        pool = await asyncpg.create_pool(
            os.environ["FLOOR_DATABASE_URL"], min_size=10, max_size=30, reset=_keep
        )
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        handler = HANDLERS[body["operationName"]]
        data = await handler(state["pool"], body["variables"], request.headers.get("authorization"))
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)
