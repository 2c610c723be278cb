"""A cap on request bodies (`MAX_REQUEST_BYTES`): larger ones get 413 before the app runs.

A pure ASGI middleware. A `Content-Length` over the cap is refused without reading the
body; otherwise the body is read, counting the bytes as they stream in, and refused as
soon as they pass the cap (a chunked body has no length to check up front). A body within
the cap is handed to the app as it came. A client that hangs up before its body is complete
is not an error: nobody is left to answer, and the app never runs.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_app.core.errors import error_body
from gql_app.http.headers import header
from gql_app.http.messages import replay_of

CODE = "REQUEST_TOO_LARGE"
logger = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                logger.debug("The client disconnected before its request body was complete.")
                return
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        # The app downstream reads the body from the replay (gql_app/http/messages.py).
        await self.app(scope, replay_of(messages, receive), send)

    async def _refuse(self, send: Send) -> None:
        message = f"The request body is larger than MAX_REQUEST_BYTES={self.max_bytes} bytes."
        body = error_body(message, CODE)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
