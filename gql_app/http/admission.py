"""Admission control: at most `MAX_CONCURRENT_REQUESTS` GraphQL requests run at once.

A worker is one process on one core. Past a few requests in flight it gains no throughput
(it is busy with CPU, not waiting on the database), but every request it starts holds its
rows, result and response in memory until done: 32 large queries at once took a worker past
300 MB, and its garbage collector then walked all of them again and again. The rest wait
their turn, first come first served, before their context (session, loaders) exists.
Health checks never wait. A request waiting on a worker thread (password hashing) lends its
slot meanwhile (`slot_lent`, gql_app/core/slots.py): a burst of logins does not hold up the queries.
A response gives its slot back as it starts, before any wait on the client to read it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_app.core.slots import Slots, slot_held


class ConcurrencyLimitMiddleware:
    """A pure ASGI middleware: requests to `path` run at most `limit` at a time."""

    def __init__(self, app: ASGIApp, *, limit: int, path: str) -> None:
        self.app = app
        self.path = path
        self.slots = Slots(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        async with slot_held(self.slots) as release:

            async def send_released(message: Message) -> None:
                if message["type"] == "http.response.start":
                    # The response is built (none is streamed): what is left is writing it,
                    # which can wait on a client that does not read (SEND_TIMEOUT_SECONDS).
                    release()
                await send(message)

            await self.app(scope, receive, send_released)
