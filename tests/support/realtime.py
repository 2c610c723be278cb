"""Helpers of the real-time tests: members made straight in the database, a graphql-ws client
speaking over a real socket to `gql-app serve`, and the GraphQL calls they make."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.db import create_engine
from gql_app.db.models import utcnow
from gql_app.domain.security import hash_password, new_token
from gql_app.graphql.ids import encode_global_id
from tests.support.app import AuthUser, bearer_headers
from tests.support.sessions import request_session

PROTOCOL = "graphql-transport-ws"
WAIT_SECONDS = 10.0

COMMENT_ADDED = (
    "subscription($post: ID!) { commentAdded(postId: $post) "
    "{ body author { username email } post { title } } }"
)
POST_UPDATED = "subscription($post: ID!) { postUpdated(postId: $post) { title } }"
ADD_COMMENT = (
    "mutation($post: ID!, $body: String!) "
    "{ addComment(input: {postId: $post, body: $body}) { __typename } }"
)
CREATE_POST = (
    'mutation { createPost(input: {title: "Live", body: "A body"}) '
    "{ ... on CreatePostSuccess { post { id } } } }"
)
DELETE_POST = "mutation($id: ID!) { deletePost(input: {id: $id}) { __typename } }"
UPDATE_POST = (
    "mutation($id: ID!, $title: String!) "
    "{ updatePost(input: {id: $id, title: $title}) { __typename } }"
)


async def make_member(
    url: str,
    username: str,
    *,
    password: str | None = None,
    expires_in: timedelta = timedelta(days=1),
) -> AuthUser:
    """A user with a token live for `expires_in`, written straight into the database of `url`
    (with `password`, if given: the account mutations ask for it)."""
    password_hash = await hash_password(password) if password is not None else "-"
    engine = create_engine(load_settings(database_url=url), pooled=False)
    session = request_session(engine)
    try:
        async with session.transaction(write=True) as db:
            user = await queries.create_user(
                db, username=username, email=f"{username}@example.com", password_hash=password_hash
            )
    finally:
        await session.close()
        await engine.dispose()
    headers = await another_token(url, user.id, expires_in=expires_in)
    return AuthUser(user.id, encode_global_id("User", user.id), username, headers)


async def another_token(
    url: str, user_pk: int, *, expires_in: timedelta = timedelta(days=1)
) -> dict[str, str]:
    """A new token of the user, live for `expires_in`: the headers that send it."""
    engine = create_engine(load_settings(database_url=url), pooled=False)
    session = request_session(engine)
    token, token_hash = new_token()
    try:
        async with session.transaction(write=True) as db:
            await queries.create_token(
                db, user_id=user_pk, token_hash=token_hash, expires_at=utcnow() + expires_in
            )
    finally:
        await session.close()
        await engine.dispose()
    return bearer_headers(token)


async def call(base_url: str, query: str, user: AuthUser, **variables: Any) -> dict[str, Any]:
    """POST one operation to the server at `base_url` as `user`; the response body."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=user.headers
        )
    body: dict[str, Any] = response.json()
    return body


async def new_post(base_url: str, author: AuthUser) -> str:
    body = await call(base_url, CREATE_POST, author)
    post_id: str = body["data"]["createPost"]["post"]["id"]
    return post_id


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/graphql"


async def open_socket(
    base_url: str,
    *,
    subprotocols: tuple[str, ...] = (PROTOCOL,),
    headers: dict[str, str] | None = None,
) -> ClientConnection:
    return await websockets.connect(
        ws_url(base_url),
        subprotocols=[websockets.Subprotocol(p) for p in subprotocols],
        additional_headers=headers,
    )


async def send(socket: ClientConnection, message: dict[str, Any]) -> None:
    await socket.send(json.dumps(message))


async def receive(socket: ClientConnection, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), seconds))
    return message


async def connected(base_url: str, user: AuthUser | None = None) -> ClientConnection:
    """A socket past `connection_ack`, authenticated as `user` in `connection_init`."""
    socket = await open_socket(base_url)
    payload = {"Authorization": user.headers["Authorization"]} if user is not None else {}
    await send(socket, {"type": "connection_init", "payload": payload})
    ack = await receive(socket)
    assert ack == {"type": "connection_ack"}, ack
    return socket


async def close_code(socket: ClientConnection) -> int | None:
    """The code the server closed `socket` with (reading, and dropping, what comes first)."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), WAIT_SECONDS)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def subscribe(
    socket: ClientConnection, operation_id: str, query: str, **variables: Any
) -> None:
    payload = {"query": query, "variables": variables}
    await send(socket, {"id": operation_id, "type": "subscribe", "payload": payload})


async def until_live(
    socket: ClientConnection, probe: Callable[[int], Any], seconds: float = 2.0
) -> dict[str, Any]:
    """Probe (write an event) until the subscription on `socket` delivers one: a
    subscription has no acknowledgement, this is how a test knows it is live. The event."""
    for attempt in range(20):
        await probe(attempt)
        try:
            return await receive(socket, seconds)
        except TimeoutError:
            continue
    raise AssertionError("the subscription never delivered an event")
