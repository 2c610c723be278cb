"""Concurrency slots: at most `limit` holders at once, and a slot its holder lends meanwhile.

The admission middleware holds one per request (`slot_held`); code that waits on a worker
thread lends it (`slot_lent`), so the middleware and the domain share this primitive rather
than the domain importing the middleware.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from time import perf_counter

from gql_app.core.observability import count_admission_wait


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
        count_admission_wait(None)
        started = perf_counter()
        try:
            await waiter
        except BaseException:
            if not waiter.cancelled():
                self.release()  # given a slot, then cancelled before taking it: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        finally:
            count_admission_wait(perf_counter() - started)

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


class _Held:
    """`slot_held`'s context manager. A class, not an async generator: one is entered per
    request, and an async generator costs the loop's first-iteration hook and a weak set."""

    __slots__ = ("_slot", "_token")

    def __init__(self, slots: Slots) -> None:
        self._slot = _Slot(slots)

    async def __aenter__(self) -> Callable[[], None]:
        await self._slot.acquire()
        self._token = _admitted.set(self._slot)
        return self._slot.release

    async def __aexit__(self, *_exc_info: object) -> None:
        _admitted.reset(self._token)
        self._slot.release()


def slot_held(slots: Slots) -> _Held:
    """A slot of `slots` for the block, which code inside may lend (`slot_lent`); calling
    the callable it enters with gives the slot back before the block ends."""
    return _Held(slots)
