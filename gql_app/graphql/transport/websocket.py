"""GraphQL over WebSocket at `/graphql`: the `graphql-transport-ws` protocol (the `graphql-ws`
library's; Apollo's `GraphQLWsLink`, urql and Relay speak it).

Strawberry's handler gives a connection one context for all its operations; here each
operation (a subscription, a query, a mutation) gets its own (`operation_context`: session,
loaders, viewer; DESIGN.md contract 1), and the connection holds only its authorization.
Every bad input ends in the protocol's answer, never a 500 nor a logged error:

- before the upgrade is accepted: an `Origin` not in `CORS_ORIGINS` (nor the server's own,
  GraphiQL's) is refused with 403 (browsers send no preflight for WebSockets: cross-site
  hijacking); a client without `Origin` is no browser and may connect; past `MAX_WEBSOCKETS`
  open sockets in the worker, 503;
- after it, a close code (`CloseCode`), or an `error` message for the one operation at fault
  (over `MAX_SUBSCRIPTIONS_PER_CONNECTION`, a document that fails validation or a limit).

The connection authenticates once, in `connection_init` (`{"Authorization": "Bearer ..."}`,
the key in any case) or else with the upgrade request's `Authorization` header; anonymous
connections may subscribe. Its token is checked again every `WS_AUTH_RECHECK_SECONDS`, with
every other socket's of the worker in one statement (revocation.py): once revoked or
expired, or its user deleted, the socket is closed with 4403.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine, Mapping
from enum import IntEnum
from typing import Any, Final
from urllib.parse import urlsplit

from graphql import GraphQLError
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gql_app import queries
from gql_app.core.errors import PublicError, error_body
from gql_app.core.observability import count_event_delivered, count_websockets
from gql_app.core.resources import Resources, resources_of
from gql_app.db import RequestSession
from gql_app.db.models import utcnow
from gql_app.domain.security import bearer_token, hash_token
from gql_app.graphql.schema import Schema
from gql_app.graphql.transport.resolution import SinkClosed, resolve
from gql_app.graphql.transport.revocation import revocations_of
from gql_app.graphql.transport.shared import FellBehind, SharedSubscriptions, is_subscription

PROTOCOL: Final = "graphql-transport-ws"
MAX_OPERATION_ID_LENGTH: Final = 128
TOO_MANY_SUBSCRIPTIONS: Final = "TOO_MANY_SUBSCRIPTIONS"
TOO_MANY_WEBSOCKETS: Final = "TOO_MANY_WEBSOCKETS"


class CloseCode(IntEnum):
    """How the server ends a socket (the protocol's codes, and two of this service's)."""

    GOING_AWAY = 1001  # the server stops (SIGTERM)
    TRY_AGAIN_LATER = 1013  # the database could not check the token at `connection_init`
    BAD_REQUEST = 4400  # a message that is not JSON, not an object, or not of the protocol
    UNAUTHORIZED = 4401  # `subscribe` before `connection_ack`
    FORBIDDEN = 4403  # a bad token at `connection_init`; later, one revoked or expired
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406  # the client does not offer graphql-transport-ws
    INIT_TIMEOUT = 4408  # no `connection_init` within WS_CONNECTION_INIT_TIMEOUT_SECONDS
    SUBSCRIBER_EXISTS = 4409  # a second `subscribe` with the id of an operation running
    FELL_BEHIND = 4413  # a subscription fell SUBSCRIPTION_QUEUE_SIZE events behind
    TOO_MANY_INIT = 4429  # a second `connection_init`


class _Closed(SinkClosed):
    """The connection was closed: its receiving loop ends."""


class SocketTransport:
    """The WebSocket endpoint of `/graphql`, and the worker's count of its open sockets."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.shared = SharedSubscriptions(schema)
        self.open_sockets = 0

    async def endpoint(self, websocket: WebSocket) -> None:
        resources = resources_of(websocket)
        settings = resources.settings
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        if origin is not None and not _allowed_origin(origin, host, settings.cors_origins):
            await websocket.close()  # before accept: the server answers 403
            return
        if self.open_sockets >= settings.max_websockets:
            body = error_body("Too many WebSockets open: retry later.", TOO_MANY_WEBSOCKETS)
            await websocket.send_denial_response(
                Response(body, status_code=503, media_type="application/json")
            )
            return
        self.open_sockets += 1
        count_websockets(1)
        try:
            if PROTOCOL not in websocket.scope.get("subprotocols", ()):
                await websocket.accept()
                await websocket.close(
                    CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable"
                )
                return
            await websocket.accept(subprotocol=PROTOCOL)
            await _Connection(self.schema, self.shared, websocket, resources).run()
        finally:
            self.open_sockets -= 1
            count_websockets(-1)


def _allowed_origin(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """A browser's page may open the socket: one of `CORS_ORIGINS`, or the server's own
    origin (GraphiQL, served from it; a hostile page's origin never names this host)."""
    return "*" in allowed or origin in allowed or urlsplit(origin).netloc == host


def _authorization_of(payload: Mapping[str, object]) -> tuple[bool, object]:
    """Whether the `connection_init` payload names an authorization (any case), and it."""
    for key, value in payload.items():
        if key.lower() == "authorization":
            return True, value
    return False, None


class _Connection:
    """One socket's protocol state; its operations run as tasks of their own."""

    def __init__(
        self,
        schema: Schema,
        shared: SharedSubscriptions,
        websocket: WebSocket,
        resources: Resources,
    ) -> None:
        self.schema = schema
        self.shared = shared
        self.websocket = websocket
        self.resources = resources
        self.settings = resources.settings
        self.authorization: str | None = websocket.headers.get("authorization")
        self.token_hash: str | None = None
        self.init_received = False
        self.acknowledged = False
        self.closed = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.unwatch: Callable[[], None] | None = None  # the token's watch (revocation.py)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.resources.loop.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> None:
        self._spawn(self._init_timeout())
        try:
            while not self.closed:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await self.close(CloseCode.BAD_REQUEST, "Messages must be text")
                    break
                await self._handle(text)
        except (_Closed, WebSocketDisconnect):
            pass
        finally:
            self.closed = True
            if self.unwatch is not None:
                self.unwatch()
            for task in list(self.tasks):
                task.cancel()
            for task in list(self.tasks):
                with contextlib.suppress(BaseException):
                    await task

    async def close(self, code: CloseCode, reason: str) -> None:
        """Close the socket with `code` (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError):
                await self.websocket.close(code, reason)

    async def send(self, message: dict[str, Any] | str) -> None:
        """Send a message (or its JSON text, serialized already)."""
        if self.closed:
            raise _Closed
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        try:
            await self.websocket.send_text(text)
        except (RuntimeError, OSError, WebSocketDisconnect):
            self.closed = True
            raise _Closed from None

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.settings.ws_connection_init_timeout_seconds)
        if not self.init_received:
            await self.close(CloseCode.INIT_TIMEOUT, "Connection initialisation timeout")

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await self.close(CloseCode.BAD_REQUEST, "Invalid message received: not JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "connection_init":
            await self._connection_init(message)
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            await self._complete(message)
        else:
            await self.close(CloseCode.BAD_REQUEST, "Invalid message received: unknown type")

    async def _connection_init(self, message: dict[str, Any]) -> None:
        if self.init_received:
            await self.close(CloseCode.TOO_MANY_INIT, "Too many initialisation requests")
            return
        self.init_received = True
        payload = message.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            await self.close(CloseCode.BAD_REQUEST, "Invalid connection_init payload")
            return
        given, authorization = _authorization_of(payload)
        if given:
            if authorization is not None and not isinstance(authorization, str):
                await self.close(CloseCode.BAD_REQUEST, "Authorization must be a string")
                return
            self.authorization = authorization
        if self.authorization:
            token = bearer_token(self.authorization)
            self.token_hash = hash_token(token) if token is not None else None
            try:
                valid = self.token_hash is not None and await self._token_valid()
            except PublicError:  # the database is down or busy: not the client's fault
                await self.close(CloseCode.TRY_AGAIN_LATER, "Try again later")
                return
            if not valid or self.token_hash is None:
                await self.close(CloseCode.FORBIDDEN, "Forbidden: invalid or expired token")
                return
            self.unwatch = revocations_of(self.websocket.scope).watch(
                self.token_hash, self._revoked
            )
        await self.send({"type": "connection_ack"})
        self.acknowledged = True
        self._spawn(self._keep_alive())

    async def _token_valid(self) -> bool:
        """The connection's token is live (unexpired, unrevoked, its user not deleted)."""
        token_hash = self.token_hash
        if token_hash is None:
            return False
        session = RequestSession(self.resources.sessionmaker)
        try:
            async with session.transaction() as db:
                return await queries.user_by_token_hash(db, token_hash, utcnow()) is not None
        finally:
            await session.close()

    def _revoked(self) -> None:
        self._spawn(self.close(CloseCode.FORBIDDEN, "Forbidden: the token was revoked or expired"))

    async def _keep_alive(self) -> None:
        with contextlib.suppress(_Closed):
            while not self.closed:
                await asyncio.sleep(self.settings.ws_keepalive_seconds)
                await self.send({"type": "ping"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(CloseCode.UNAUTHORIZED, "Unauthorized")
            return
        operation_id = message.get("id")
        payload = message.get("payload")
        if not (
            isinstance(operation_id, str)
            and 0 < len(operation_id) <= MAX_OPERATION_ID_LENGTH
            and isinstance(payload, dict)
            and _valid_request(payload)
        ):
            await self.close(CloseCode.BAD_REQUEST, "Invalid message received: bad subscribe")
            return
        if operation_id in self.operations:
            await self.close(
                CloseCode.SUBSCRIBER_EXISTS, f"Subscriber for {operation_id} already exists"
            )
            return
        limit = self.settings.max_subscriptions_per_connection
        if len(self.operations) >= limit:
            error = GraphQLError(
                f"This connection already runs MAX_SUBSCRIPTIONS_PER_CONNECTION={limit} "
                "operations.",
                extensions={"code": TOO_MANY_SUBSCRIPTIONS},
            )
            await self.send({"id": operation_id, "type": "error", "payload": [error.formatted]})
            return
        self.operations[operation_id] = self._spawn(self._operate(operation_id, payload))

    async def _complete(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        if not isinstance(operation_id, str):
            await self.close(CloseCode.BAD_REQUEST, "Invalid message received: bad complete")
            return
        task = self.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()

    async def _operate(self, operation_id: str, request: dict[str, Any]) -> None:
        """Run one operation and send its results; `complete` when it ends by itself."""
        if is_subscription(request["query"], request.get("operationName")):
            await self._follow(operation_id, request)
            return
        try:
            await resolve(
                self.schema,
                self.resources,
                self.websocket.scope,
                self.authorization,
                request,
                _OperationSink(self, operation_id),
            )
        finally:
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]

    async def _follow(self, operation_id: str, request: dict[str, Any]) -> None:
        """A subscription, as a member of the group that shares its resolution (shared.py)."""
        prefix = f'{{"id":{json.dumps(operation_id)},"type":'
        try:
            async with self.shared.member(
                self.resources, self.websocket.scope, self.authorization, request
            ) as member:
                async for kind, body in member:
                    if kind == "next":
                        await self.send(f'{prefix}"next","payload":{body}}}')
                        count_event_delivered()
                    elif kind == "error":
                        await self.finish(operation_id, f'{prefix}"error","payload":{body}}}')
                    else:
                        await self.finish(operation_id, {"id": operation_id, "type": "complete"})
        except FellBehind:
            await self.close(CloseCode.FELL_BEHIND, "Subscriber fell behind")
        except _Closed:
            pass
        finally:
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]

    async def finish(self, operation_id: str, message: dict[str, Any] | str) -> None:
        """The last message of an operation: its id is free again before it is sent."""
        if self.operations.get(operation_id) is asyncio.current_task():
            del self.operations[operation_id]
        await self.send(message)


class _OperationSink:
    """A lone operation's results, sent on its connection with its id."""

    def __init__(self, connection: _Connection, operation_id: str) -> None:
        self.connection = connection
        self.operation_id = operation_id

    async def next(self, payload: dict[str, Any]) -> None:
        await self.connection.send({"id": self.operation_id, "type": "next", "payload": payload})

    async def error(self, errors: list[GraphQLError]) -> None:
        formatted = [error.formatted for error in errors]
        message = {"id": self.operation_id, "type": "error", "payload": formatted}
        await self.connection.finish(self.operation_id, message)

    async def complete(self) -> None:
        await self.connection.finish(
            self.operation_id, {"id": self.operation_id, "type": "complete"}
        )


def _valid_request(payload: dict[str, Any]) -> bool:
    """A `subscribe` payload: a string query, and variables, operation name and extensions of
    the right types when given."""
    if not isinstance(payload.get("query"), str):
        return False
    kinds = {"variables": dict, "operationName": str, "extensions": dict}
    return all(
        payload.get(name) is None or isinstance(payload.get(name), kind)
        for name, kind in kinds.items()
    )
