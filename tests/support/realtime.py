"""Helpers of the real-time tests: members made straight in the database, a graphql-ws client
speaking over a real socket to `gql-app serve`, a reader of multipart subscriptions, and the
GraphQL calls they make."""

from __future__ import annotations

import asyncio
import json
import socket as tcp
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

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
MULTIPART = "multipart/mixed;subscriptionSpec=1.0, application/json"
_BOUNDARY = "\r\n--graphql"

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
PASSWORD = "a password of the test"
DELETE_ACCOUNT = "mutation($v: DeleteAccountInput!) { deleteAccount(input: $v) { __typename } }"
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


class StalledReader:
    """A graphql-ws client that reads only when asked: over a socket with a receive buffer of
    a few kilobytes, through the sans-I/O protocol of `websockets` (its asyncio client reads
    ahead of its caller), so a server writing to it soon has to wait."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._protocol = ClientProtocol(
            parse_uri("ws://localhost/graphql"),
            subprotocols=[websockets.Subprotocol(PROTOCOL)],
            max_size=None,
        )
        self._events: list[Request | Response | Frame] = []

    @classmethod
    async def connect(cls, base_url: str) -> StalledReader:
        """Connected, past `connection_ack`."""
        raw = tcp.socket(tcp.AF_INET, tcp.SOCK_STREAM)
        raw.setsockopt(tcp.SOL_SOCKET, tcp.SO_RCVBUF, 4096)  # before connect: the window
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", int(base_url[-5:])))
        client = cls(*await asyncio.open_connection(sock=raw, limit=4096))
        client._protocol.send_request(client._protocol.connect())
        client._flush()
        assert isinstance(await client._next(), Response)
        await client.send({"type": "connection_init", "payload": {}})
        assert await client.receive() == {"type": "connection_ack"}
        return client

    async def send(self, message: dict[str, Any]) -> None:
        self._protocol.send_text(json.dumps(message).encode())
        self._flush()

    async def receive(self, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
        """The next message (past the control frames)."""
        while True:
            frame = await self._next(seconds)
            if isinstance(frame, Frame) and frame.opcode is Opcode.TEXT:
                message: dict[str, Any] = json.loads(bytes(frame.data))
                return message

    async def close_code(self) -> int | None:
        """Read to the server's close frame: its code."""
        while self._protocol.close_rcvd is None:
            await self._next()
        return self._protocol.close_rcvd.code

    def _flush(self) -> None:
        self._writer.write(b"".join(self._protocol.data_to_send()))

    async def _next(self, seconds: float = WAIT_SECONDS) -> Request | Response | Frame:
        while not self._events:
            data = await asyncio.wait_for(self._reader.read(65536), seconds)
            if not data:
                raise ConnectionError("the server closed the connection")
            self._protocol.receive_data(data)
            self._events.extend(self._protocol.events_received())
            self._flush()  # pongs, the close handshake
        return self._events.pop(0)

    def close(self) -> None:
        self._writer.close()


Client = ClientConnection | StalledReader


async def send(socket: Client, message: dict[str, Any]) -> None:
    if isinstance(socket, StalledReader):
        await socket.send(message)
    else:
        await socket.send(json.dumps(message))


async def receive(socket: Client, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    if isinstance(socket, StalledReader):
        return await socket.receive(seconds)
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


async def subscribe(socket: Client, operation_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await send(socket, {"id": operation_id, "type": "subscribe", "payload": payload})


async def until_live(
    socket: Client, probe: Callable[[int], Any], seconds: float = 2.0
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


async def parts(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON bodies of a multipart response's parts, as they arrive (heartbeats too)."""
    buffered = ""
    async for chunk in response.aiter_text():
        buffered += chunk
        *complete, buffered = buffered.split(_BOUNDARY)
        for part in complete:
            _, separator, body = part.partition("\r\n\r\n")
            if separator:
                yield json.loads(body)
