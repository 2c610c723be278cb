"""Request ids: taken from `X-Request-ID` when sane, else generated; echoed on every response.

A pure ASGI middleware (no `BaseHTTPMiddleware`: it would buffer streaming responses and
run the app in another task). The id lands in the scope's `state`, where `request.state`
reads it, and in every log line written while the request runs: the middleware opens the
request's record (gql_app/core/observability.py) and hands it to the `Observer` at the end,
for the access line, the slow-operation warning and the metrics.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_app.core.observability import Observer, begin_request
from gql_app.http.headers import header

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()  # as ASGI servers give header names
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    """The id `RequestIdMiddleware` gave the request of `scope`."""
    request_id: str = scope["state"]["request_id"]
    return request_id


def fresh_id() -> str:
    """128 random bits in hex, as `uuid4().hex` but without its `getrandom` syscall per id.

    A request id names a request in logs; it guards nothing, so `random` serves (Python
    reseeds it in a forked child: workers do not repeat each other's ids).
    """
    return f"{random.getrandbits(128):032x}"


def with_request_id(
    headers: Iterable[tuple[bytes, bytes]], request_id: bytes
) -> list[tuple[bytes, bytes]]:
    """`headers` with `X-Request-ID: request_id`, in place of the first it has and without
    the others, as Starlette's `MutableHeaders` sets it (without an object per response)."""
    given = list(headers)
    for first, (key, _) in enumerate(given):
        if key == _HEADER_KEY:
            return [
                (key, request_id) if index == first else (key, value)
                for index, (key, value) in enumerate(given)
                if index == first or key != _HEADER_KEY
            ]
    given.append((_HEADER_KEY, request_id))
    return given


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, *, observer: Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = header(scope, _HEADER_KEY)
        request_id = given if given and _SANE.fullmatch(given) else fresh_id()
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("latin-1")
        record = begin_request(request_id, scope.get("method", "WEBSOCKET"), scope["path"])
        status = 500 if scope["type"] == "http" else 101  # 500: what uvicorn answers a raise

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_request_id(message.get("headers", ()), encoded)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.observer.finish(record, status)
