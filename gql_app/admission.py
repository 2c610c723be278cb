"""Admission control: at most `MAX_CONCURRENT_REQUESTS` GraphQL requests run at once.

A worker is one process on one core. Past a few requests in flight it gains no throughput
(it is busy with CPU, not waiting on the database), but every request it starts holds its
rows, result and response in memory until done: 32 large queries at once took a worker past
300 MB, and its garbage collector then walked all of them again and again. The rest wait
their turn, first come first served, before their context (session, loaders) exists.
Health checks never wait. A request waiting on a worker thread (password hashing) lends its
slot meanwhile (`slot_lent`): a burst of logins does not hold up the queries. A response
gives its slot back as it starts, before any wait on the client to read it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Slots:
    """At most `limit` holders at once; the rest wait, first come first served.

    `asyncio.Semaphore`, but for the loop it asks for once: the semaphore asks on every wait,
    and on Python 3.11 each ask is a `getpid` syscall (2 % of a small request's CPU when
    requests queue, as they do under load). A released slot passes straight to the next waiter.
    """

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if not waiter.cancelled():
                self.release()  # given a slot, then cancelled before taking it: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class _Slot:
    """The admission slot of one request, which it can lend while it waits on a thread."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._held = False
        self._lenders = 0

    async def acquire(self) -> None:
        await self._slots.acquire()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    @asynccontextmanager
    async def lent(self) -> AsyncIterator[None]:
        self._lenders += 1
        if self._lenders == 1:
            self.release()
        try:
            yield
        finally:
            self._lenders -= 1
            if self._lenders == 0:
                await self.acquire()  # cancelled while waiting: nothing is held


_admitted: ContextVar[_Slot | None] = ContextVar("gql_app_admission_slot", default=None)


@asynccontextmanager
async def slot_lent() -> AsyncIterator[None]:
    """Around an await on a worker thread: the request's slot serves another meanwhile."""
    slot = _admitted.get()
    if slot is None:
        yield
        return
    async with slot.lent():
        yield


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
        slot = _Slot(self.slots)

        async def send_released(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The response is built (none is streamed): what is left is writing it,
                # which can wait on a client that does not read (SEND_TIMEOUT_SECONDS).
                slot.release()
            await send(message)

        await slot.acquire()
        token = _admitted.set(slot)
        try:
            await self.app(scope, receive, send_released)
        finally:
            _admitted.reset(token)
            slot.release()
