"""The floors (bench-only, not part of the product): bare Starlette endpoints that answer
the benchmark's operations over raw asyncpg, without GraphQL. They dispatch on the request's
`operationName` and never parse the document. They are the limit, not a mirror of gql_app:

- `create_app`, the floor: each statement selects only the columns its operation returns
  (batched like gql_app's DataLoaders, one statement per depth), and the answer is written
  from the records with orjson.
- `create_json_app`, the JSON floor: one statement per operation in which PostgreSQL builds
  the whole answer (json_build_object, json_agg); Python only frames it as `{"data": ...}`.

Every read runs in autocommit and addComment's write is one statement. The login (both
floors) runs the statements of gql_app's (gql_app/domain/accounts.py): two reads in
autocommit, the password checked in a worker thread with no connection held (gql_app's own
helper, so the argon2id work is the same), then one transaction that clears the account's
failed logins and stores the new token's hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gql_app.core.config import Settings, load_settings
from gql_app.domain import input as account_input
from gql_app.domain import throttle
from gql_app.domain.security import new_token, verify_password
from gql_app.graphql.ids import decode_id_of, encode_global_id
from gql_app.http.client_address import client_address

Json = dict[str, Any]
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
ConnectionHandler = Callable[[Connection, Json, str | None], Awaitable[Json | bytes]]
# A handler answers with the response's body: `{"data": ...}` as JSON.
Handler = Callable[[asyncpg.Pool, Settings, Json, str | None, str], Awaitable[bytes]]

# The floor's statements: rows of `limit + 1` pages (the extra row tells whether more
# follow) and ROW_NUMBER() windows for one page of many parents' rows, as gql_app pages;
# only the columns the answers hold.
USERS_BY_USERNAME = "SELECT id, username FROM users ORDER BY username, id LIMIT $1"
USERS_BY_IDS = "SELECT id, username FROM users WHERE id = ANY($1::bigint[])"
USERNAME_BY_ID = "SELECT username FROM users WHERE id = $1"
POSTS_NEWEST = (
    "SELECT id, author_id, title, created_at FROM posts ORDER BY created_at DESC, id DESC LIMIT $1"
)
POSTS_OF_USERS = (
    "SELECT id, author_id, title FROM"
    " (SELECT id, author_id, title,"
    " row_number() OVER (PARTITION BY author_id ORDER BY created_at DESC, id DESC) AS rn"
    " FROM posts WHERE author_id = ANY($1::bigint[])) AS ranked"
    " WHERE rn <= $2 ORDER BY author_id, rn"
)
COMMENTS_OF_POSTS = (
    "SELECT id, post_id, author_id, body FROM"
    " (SELECT id, post_id, author_id, body,"
    " row_number() OVER (PARTITION BY post_id ORDER BY created_at, id) AS rn"
    " FROM comments WHERE post_id = ANY($1::bigint[])) AS ranked"
    " WHERE rn <= $2 ORDER BY post_id, rn"
)
COMMENT_COUNTS = (
    "SELECT post_id, count(*) FROM comments WHERE post_id = ANY($1::bigint[]) GROUP BY post_id"
)
VIEWER = (
    "SELECT users.id, users.username FROM users"
    " JOIN auth_tokens ON auth_tokens.user_id = users.id"
    " WHERE auth_tokens.token_hash = $1 AND auth_tokens.revoked_at IS NULL"
    " AND auth_tokens.expires_at > $2"
)
INSERT_COMMENT = (
    "INSERT INTO comments (post_id, author_id, body, created_at) VALUES ($1, $2, $3, $4)"
    " RETURNING id, body"
)

# The JSON floor's statements: PostgreSQL writes the answer. A global id is the urlsafe
# base64 of `Type:id` (gql_app/graphql/ids.py); timestamps are written in UTC
# (the connections' TimeZone), as Python's isoformat() writes them. $2 is the comments' limit.
JSON_COMMENTS_OF_POST = (
    "json_build_object('edges', (SELECT coalesce(json_agg(json_build_object('node',"
    " json_build_object('id', translate(encode(convert_to('Comment:' || c.id, 'UTF8'),"
    " 'base64'), '+/', '-_'), 'body', c.body, 'author', (SELECT json_build_object('id',"
    " translate(encode(convert_to('User:' || a.id, 'UTF8'), 'base64'), '+/', '-_'),"
    " 'username', a.username) FROM users AS a WHERE a.id = c.author_id)))"
    " ORDER BY c.created_at, c.id), '[]') FROM (SELECT id, author_id, body, created_at"
    " FROM comments WHERE post_id = p.id ORDER BY created_at, id LIMIT $2) AS c))"
)
JSON_NESTED = (
    "SELECT json_build_object('users', json_build_object('edges', coalesce(json_agg("
    "json_build_object('node', json_build_object('id', translate(encode(convert_to("
    "'User:' || u.id, 'UTF8'), 'base64'), '+/', '-_'), 'username', u.username, 'posts',"
    " json_build_object('edges', (SELECT coalesce(json_agg(json_build_object('node',"
    " json_build_object('id', translate(encode(convert_to('Post:' || p.id, 'UTF8'),"
    " 'base64'), '+/', '-_'), 'title', p.title, 'comments', "
    + JSON_COMMENTS_OF_POST
    + ")) ORDER BY p.created_at DESC, p.id DESC), '[]') FROM (SELECT id, title, created_at"
    " FROM posts WHERE author_id = u.id ORDER BY created_at DESC, id DESC LIMIT $3) AS p))))"
    " ORDER BY u.username, u.id), '[]')))"
    " FROM (SELECT id, username FROM users ORDER BY username, id LIMIT $1) AS u"
)
JSON_TINY = (
    "SELECT json_build_object('user',"
    " (SELECT json_build_object('username', username) FROM users WHERE id = $1))"
)
JSON_PAGE = (
    "SELECT json_build_object('posts', json_build_object('edges', coalesce(json_agg("
    "json_build_object('node', json_build_object('id', translate(encode(convert_to("
    "'Post:' || p.id, 'UTF8'), 'base64'), '+/', '-_'), 'title', p.title, 'createdAt',"
    " p.created_at, 'author', (SELECT json_build_object('id', translate(encode(convert_to("
    "'User:' || a.id, 'UTF8'), 'base64'), '+/', '-_'), 'username', a.username)"
    " FROM users AS a WHERE a.id = p.author_id), 'commentCount',"
    " (SELECT count(*) FROM comments WHERE post_id = p.id), 'comments', "
    + JSON_COMMENTS_OF_POST
    + ")) ORDER BY p.created_at DESC, p.id DESC), '[]')))"
    " FROM (SELECT id, author_id, title, created_at FROM posts"
    " ORDER BY created_at DESC, id DESC LIMIT $1) AS p"
)
JSON_ADD_COMMENT = (
    "WITH viewer AS (SELECT users.id, users.username FROM users"
    " JOIN auth_tokens ON auth_tokens.user_id = users.id"
    " WHERE auth_tokens.token_hash = $1 AND auth_tokens.revoked_at IS NULL"
    " AND auth_tokens.expires_at > now()),"
    " inserted AS (INSERT INTO comments (post_id, author_id, body, created_at)"
    " SELECT $2, viewer.id, $3, now() FROM viewer RETURNING id, body)"
    " SELECT json_build_object('addComment', json_build_object('__typename',"
    " 'AddCommentSuccess', 'comment', json_build_object('id', translate(encode(convert_to("
    "'Comment:' || inserted.id, 'UTF8'), 'base64'), '+/', '-_'), 'body', inserted.body,"
    " 'author', json_build_object('id', translate(encode(convert_to('User:' || viewer.id,"
    " 'UTF8'), 'base64'), '+/', '-_'), 'username', viewer.username))))"
    " FROM inserted, viewer"
)
# The login's statements (gql_app/queries/: _user_by_username_ignoring_case,
# _user_by_email, _login_name, _count_failure, _sweep_failures, _delete_failures,
# _uncount_failures, _set_password_hash, create_token).
LOGIN_BY_USERNAME = (
    "SELECT id, username, email, password_hash FROM users WHERE lower(username) = lower($1)"
)
LOGIN_BY_EMAIL = (
    "SELECT id, username, email, password_hash FROM users WHERE lower(email) = lower($1)"
)
LOGIN_NAME = "SELECT lower($1::varchar)"
COUNT_FAILURE = (
    "INSERT INTO login_failures (throttle_key, failures, window_started_at) VALUES ($1, 1, $2)"
    " ON CONFLICT (throttle_key) DO UPDATE SET"
    " failures = CASE WHEN login_failures.window_started_at <= $3 THEN 1"
    " ELSE login_failures.failures + 1 END,"
    " window_started_at = CASE WHEN login_failures.window_started_at <= $3 THEN $2"
    " ELSE login_failures.window_started_at END"
    " RETURNING failures"
)
SWEEP_FAILURES = (
    "DELETE FROM login_failures WHERE throttle_key IN (SELECT throttle_key FROM login_failures"
    " WHERE window_started_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
)
DELETE_FAILURES = "DELETE FROM login_failures WHERE throttle_key = ANY($1::varchar[])"
UNCOUNT_FAILURES = (
    "UPDATE login_failures SET failures = failures - 1"
    " WHERE throttle_key = ANY($1::varchar[]) AND failures > 0"
)
UPDATE_USER_HASH = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3"
INSERT_AUTH_ROW = (
    "INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)"
)


class _LimitReachedError(Exception):
    """An attempt over a throttle limit: its counts are rolled back."""


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
    username = await connection.fetchval(USERNAME_BY_ID, decode_id_of(variables["id"], "User"))
    return {"user": None if username is None else {"username": username}}


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


def _token_hash(auth: str | None) -> str:
    return hashlib.sha256((auth or "").removeprefix("Bearer ").encode()).hexdigest()


async def add_comment(connection: Connection, variables: Json, auth: str | None) -> Json:
    """The floor assumes a valid token (gql_app answers an error without one)."""
    viewer = await connection.fetchrow(VIEWER, _token_hash(auth), datetime.now(UTC))
    assert viewer is not None, "the write load signs in"
    given = variables["input"]
    post_id = decode_id_of(given["postId"], "Post")
    [row] = await connection.fetch(
        INSERT_COMMENT, post_id, viewer["id"], given["body"].strip(), datetime.now(UTC)
    )
    comment = {
        "id": encode_global_id("Comment", row["id"]),
        "body": row["body"],
        "author": _user(viewer),
    }
    return {"addComment": {"__typename": "AddCommentSuccess", "comment": comment}}


async def _json(connection: Connection, statement: str, *args: Any) -> bytes:
    """The answer PostgreSQL wrote for `statement`, framed as a GraphQL response."""
    data: str = await connection.fetchval(statement, *args)
    return b'{"data":' + data.encode() + b"}"


async def json_nested(connection: Connection, variables: Json, _auth: str | None) -> bytes:
    limits = variables["users"], variables["comments"], variables["posts"]
    return await _json(connection, JSON_NESTED, *limits)


async def json_tiny(connection: Connection, variables: Json, _auth: str | None) -> bytes:
    return await _json(connection, JSON_TINY, decode_id_of(variables["id"], "User"))


async def json_page(connection: Connection, variables: Json, _auth: str | None) -> bytes:
    return await _json(connection, JSON_PAGE, variables["first"], variables["comments"])


async def json_add_comment(connection: Connection, variables: Json, auth: str | None) -> bytes:
    given = variables["input"]
    post_id = decode_id_of(given["postId"], "Post")
    return await _json(
        connection, JSON_ADD_COMMENT, _token_hash(auth), post_id, given["body"].strip()
    )


def _login_failed(typename: str) -> Json:
    return {"login": {"__typename": typename}}


async def _login(pool: asyncpg.Pool, settings: Settings, variables: Json, address: str) -> Json:
    """gql_app's `login` (gql_app/domain/accounts.py); invalid input is not answered (HTTP 500)."""
    given = variables["input"]
    name = account_input.login(given["login"])
    password = account_input.given_password(given["password"])
    now = datetime.now(UTC)
    since = now - timedelta(seconds=settings.login_failure_window_seconds)
    lookup = LOGIN_BY_EMAIL if "@" in name else LOGIN_BY_USERNAME
    async with pool.acquire() as connection, connection.transaction():
        user = await connection.fetchrow(lookup, name)
        if user is not None:
            account = throttle.user_account(user["id"])
        else:
            account = throttle.unknown_account(await connection.fetchval(LOGIN_NAME, name))
        attempt = throttle.Attempt.of(account, address)
        try:
            async with connection.transaction():
                for key, limit in attempt.limits(settings):
                    if await connection.fetchval(COUNT_FAILURE, key, now, since) > limit:
                        raise _LimitReachedError
        except _LimitReachedError:
            limited = True
        else:
            limited = False
        await connection.execute(SWEEP_FAILURES, since, throttle.SWEEP_BATCH)
    if limited:
        return _login_failed("RateLimited")
    ok, new_hash = await verify_password(password, user["password_hash"] if user else None)
    if user is None or not ok:
        return _login_failed("InvalidCredentials")
    token, token_hash = new_token()
    expires_at = now + timedelta(days=settings.token_ttl_days)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(DELETE_FAILURES, [attempt.pair])
        await connection.execute(UNCOUNT_FAILURES, [attempt.account, attempt.address])
        if new_hash is not None:
            await connection.execute(UPDATE_USER_HASH, new_hash, now, user["id"])
        await connection.execute(INSERT_AUTH_ROW, user["id"], token_hash, now, expires_at)
    return {
        "login": {
            "__typename": "AuthSuccess",
            "user": _user(user),
            "token": token,
            "expiresAt": expires_at.isoformat(),
        }
    }


def _framed(data: Json | bytes) -> bytes:
    return data if isinstance(data, bytes) else orjson.dumps({"data": data})


async def login(
    pool: asyncpg.Pool, settings: Settings, variables: Json, _auth: str | None, address: str
) -> bytes:
    return _framed(await _login(pool, settings, variables, address))


def _on_one_connection(handler: ConnectionHandler) -> Handler:
    """A handler that does all its work on one connection, held for the whole request."""

    async def run(
        pool: asyncpg.Pool, _settings: Settings, variables: Json, auth: str | None, _address: str
    ) -> bytes:
        async with pool.acquire() as connection:
            return _framed(await handler(connection, variables, auth))

    return run


HANDLERS: dict[str, Handler] = {
    "Nested": _on_one_connection(nested),
    "Tiny": _on_one_connection(tiny),
    "Page": _on_one_connection(page),
    "Login": login,
    "AddComment": _on_one_connection(add_comment),
}
JSON_HANDLERS: dict[str, Handler] = {
    "Nested": _on_one_connection(json_nested),
    "Tiny": _on_one_connection(json_tiny),
    "Page": _on_one_connection(json_page),
    "Login": login,
    "AddComment": _on_one_connection(json_add_comment),
}


async def _keep(_connection: asyncpg.Connection) -> None:
    """Nothing to reset: the floor sets no session state."""


def create_app() -> Starlette:
    """The floor app; `FLOOR_DATABASE_URL` is a libpq-style PostgreSQL URL.

    The login's settings (`TOKEN_TTL_DAYS`, the `LOGIN_MAX_FAILURES*`,
    `LOGIN_FAILURE_WINDOW_SECONDS`, `TRUSTED_PROXIES`) are read as gql_app reads them.
    """
    return _app(HANDLERS)


def create_json_app() -> Starlette:
    """The JSON floor app, configured as `create_app`'s."""
    return _app(JSON_HANDLERS)


def _app(handlers: dict[str, Handler]) -> Starlette:
    settings = load_settings()
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # gql_app's pool: 10 connections kept, 20 more at peaks. The floor's connections keep
        # no session state, so the per-release RESET ALL/UNLISTEN round trip is skipped.
        pool = await asyncpg.create_pool(
            os.environ["FLOOR_DATABASE_URL"],
            min_size=10,
            max_size=30,
            reset=_keep,
            server_settings={"TimeZone": "UTC"},
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        handler = handlers[body["operationName"]]
        answer = await handler(
            pools[0],
            settings,
            body["variables"],
            request.headers.get("authorization"),
            client_address(request.scope, settings.trusted_proxies),
        )
        return Response(answer, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)
