"""The floor server (bench-only, not part of the product): a bare Starlette endpoint that
runs the same batched SQL as gql_app with raw asyncpg and returns the same JSON, without
GraphQL. It dispatches on the request's `operationName` and never parses the document.

Every read runs in autocommit and every write is one statement: the fewest round trips a
driver allows for the statements gql_app's DataLoaders issue.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gql_app.graphql.ids import decode_id_of, encode_global_id

Json = dict[str, Any]
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Handler = Callable[[Connection, Json, str | None], Awaitable[Json]]

# The statements of gql_app/queries.py, written out: rows of `limit + 1` pages (the extra row
# tells whether more follow) and ROW_NUMBER() windows for one page of many parents' rows.
USERS_BY_USERNAME = (
    "SELECT id, username, email, created_at FROM users ORDER BY username, id LIMIT $1"
)
USERS_BY_IDS = "SELECT id, username, email, created_at FROM users WHERE id = ANY($1::bigint[])"
POSTS_NEWEST = (
    "SELECT id, author_id, title, body, created_at, updated_at FROM posts"
    " ORDER BY created_at DESC, id DESC LIMIT $1"
)
POSTS_OF_USERS = (
    "SELECT id, author_id, title, body, created_at, updated_at FROM (SELECT id, author_id, title, body, created_at, updated_at,"
    " row_number() OVER (PARTITION BY author_id ORDER BY created_at DESC, id DESC) AS rn"
    " FROM posts WHERE author_id = ANY($1::bigint[])) AS ranked"
    " WHERE rn <= $2 ORDER BY author_id, rn"
)
COMMENTS_OF_POSTS = (
    "SELECT id, post_id, author_id, body, created_at FROM (SELECT id, post_id, author_id, body, created_at,"
    " row_number() OVER (PARTITION BY post_id ORDER BY created_at, id) AS rn"
    " FROM comments WHERE post_id = ANY($1::bigint[])) AS ranked"
    " WHERE rn <= $2 ORDER BY post_id, rn"
)
COMMENT_COUNTS = (
    "SELECT post_id, count(*) FROM comments WHERE post_id = ANY($1::bigint[]) GROUP BY post_id"
)
VIEWER = (
    "SELECT users.id FROM users JOIN auth_tokens ON auth_tokens.user_id = users.id"
    " WHERE auth_tokens.token_hash = $1 AND auth_tokens.revoked_at IS NULL"
    " AND auth_tokens.expires_at > $2"
)
INSERT_COMMENT = (
    "INSERT INTO comments (post_id, author_id, body, created_at) VALUES ($1, $2, $3, $4)"
    " RETURNING id, post_id, author_id, body, created_at"
)


def _group(rows: Iterable[asyncpg.Record], key: str, limit: int) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = {}
    for row in rows:
        group = groups.setdefault(row[key], [])
        if len(group) < limit:
            group.append(row)
    return groups


def _user(row: asyncpg.Record) -> Json:
    return {"id": encode_global_id("User", row["id"]), "username": row["username"]}


def _comment(row: asyncpg.Record, authors: dict[int, Json]) -> Json:
    return {
        "id": encode_global_id("Comment", row["id"]),
        "body": row["body"],
        "author": authors[row["author_id"]],
    }


def _edges(nodes: Iterable[Json]) -> Json:
    return {"edges": [{"node": node} for node in nodes]}


async def _authors(connection: Connection, rows: Iterable[asyncpg.Record]) -> dict[int, Json]:
    ids = list(dict.fromkeys(row["author_id"] for row in rows))
    return {row["id"]: _user(row) for row in await connection.fetch(USERS_BY_IDS, ids)}


async def nested(connection: Connection, variables: Json, _auth: str | None) -> Json:
    first_users, first_posts, first_comments = (
        variables["users"],
        variables["posts"],
        variables["comments"],
    )
    users = (await connection.fetch(USERS_BY_USERNAME, first_users + 1))[:first_users]
    posts = await connection.fetch(POSTS_OF_USERS, [u["id"] for u in users], first_posts + 1)
    posts_of = _group(posts, "author_id", first_posts)
    post_ids = [post["id"] for group in posts_of.values() for post in group]
    comments = await connection.fetch(COMMENTS_OF_POSTS, post_ids, first_comments + 1)
    comments_of = _group(comments, "post_id", first_comments)
    authors = await _authors(connection, (c for g in comments_of.values() for c in g))

    def post(row: asyncpg.Record) -> Json:
        return {
            "id": encode_global_id("Post", row["id"]),
            "title": row["title"],
            "comments": _edges(_comment(c, authors) for c in comments_of.get(row["id"], [])),
        }

    return {
        "users": _edges(
            _user(user) | {"posts": _edges(post(p) for p in posts_of.get(user["id"], []))}
            for user in users
        )
    }


async def tiny(connection: Connection, variables: Json, _auth: str | None) -> Json:
    rows = await connection.fetch(USERS_BY_IDS, [decode_id_of(variables["id"], "User")])
    return {"user": {"username": rows[0]["username"]} if rows else None}


async def page(connection: Connection, variables: Json, _auth: str | None) -> Json:
    first, first_comments = variables["first"], variables["comments"]
    posts = (await connection.fetch(POSTS_NEWEST, first + 1))[:first]
    post_ids = [post["id"] for post in posts]
    authors = await _authors(connection, posts)
    counts = {row[0]: row[1] for row in await connection.fetch(COMMENT_COUNTS, post_ids)}
    comments = await connection.fetch(COMMENTS_OF_POSTS, post_ids, first_comments + 1)
    comments_of = _group(comments, "post_id", first_comments)
    commenters = await _authors(connection, (c for g in comments_of.values() for c in g))
    return {
        "posts": _edges(
            {
                "id": encode_global_id("Post", post["id"]),
                "title": post["title"],
                "createdAt": post["created_at"].isoformat(),
                "author": authors[post["author_id"]],
                "commentCount": counts.get(post["id"], 0),
                "comments": _edges(
                    _comment(c, commenters) for c in comments_of.get(post["id"], [])
                ),
            }
            for post in posts
        )
    }


async def add_comment(connection: Connection, variables: Json, auth: str | None) -> Json:
    token = (auth or "").removeprefix("Bearer ")
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    viewer = await connection.fetchval(VIEWER, token_hash, datetime.now(UTC))
    given = variables["input"]
    post_id = decode_id_of(given["postId"], "Post")
    [row] = await connection.fetch(
        INSERT_COMMENT, post_id, viewer, given["body"].strip(), datetime.now(UTC)
    )
    authors = await _authors(connection, [row])
    comment = _comment(row, authors)
    return {"addComment": {"__typename": "AddCommentSuccess", "comment": comment}}


HANDLERS: dict[str, Handler] = {
    "Nested": nested,
    "Tiny": tiny,
    "Page": page,
    "AddComment": add_comment,
}


async def _keep(_connection: asyncpg.Connection) -> None:
    """Nothing to reset: the floor sets no session state."""


def create_app() -> Starlette:
    """The floor app; `FLOOR_DATABASE_URL` is a libpq-style PostgreSQL URL."""
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # gql_app's pool: 10 connections kept, 20 more at peaks. The floor's connections keep
        # no session state, so the per-release RESET ALL/UNLISTEN round trip is skipped.
        pool = await asyncpg.create_pool(
            os.environ["FLOOR_DATABASE_URL"], min_size=10, max_size=30, reset=_keep
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        handler = HANDLERS[body["operationName"]]
        async with pools[0].acquire() as connection:
            data = await handler(
                connection, body["variables"], request.headers.get("authorization")
            )
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)
