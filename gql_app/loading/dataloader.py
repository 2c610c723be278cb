"""A small DataLoader: the keys a request asks for together, loaded by one call.

It replaces `strawberry.dataloader.DataLoader`, whose costs showed in profiles under load:
every `load` called `asyncio.get_event_loop()` (on Python 3.11 a `getpid()` syscall, ~6 us
here), every loader built a cache around a lambda, and every key had a future (a nested
request awaited thousands). Here the loop is given (the app's, so a request asks for it
never) or taken once, the cache maps a key to its batch and position, and a caller waits on
one future per batch still loading.

Batching is Strawberry's: a batch runs in a task of its own one loop iteration after its
first key (as its `call_soon` then `create_task` do), so every load of the coroutines
scheduled meanwhile lands in it, up to `max_batch_size` keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Hashable, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Slot = tuple["_Batch[K, V]", int]
LoadFn = Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]


class _Batch(Generic[K, V]):
    """Keys loaded by one call of `load_fn`, run in `task`."""

    __slots__ = ("callers", "done", "dropped", "keys", "open", "task", "values", "waiters")
    task: asyncio.Task[None]

    def __init__(self) -> None:
        self.keys: list[K] = []
        self.values: Sequence[V | BaseException] = ()  # one per key once done
        self.open = True  # takes keys until its task runs
        self.done = False
        self.dropped = False  # its keys load again: no caller was left, or it was cancelled
        self.callers = 0  # awaitables of its keys, not cancelled
        self.waiters: list[asyncio.Future[None]] = []  # one per caller waiting


class _Many(Generic[K, V]):
    """What `load_many` returns: awaited, waits on one future per batch still loading."""

    __slots__ = ("batches", "slots")

    def __init__(self, slots: list[Slot[K, V]]) -> None:
        self.slots = slots
        self.batches = [batch for batch in {slot[0] for slot in slots} if not batch.done]
        for batch in self.batches:
            batch.callers += 1

    def __await__(self) -> Generator[Any, None, list[V | Exception]]:
        try:
            for batch in self.batches:
                if not batch.done:
                    waiter = batch.task.get_loop().create_future()
                    batch.waiters.append(waiter)
                    yield from waiter
        except asyncio.CancelledError:
            batches, self.batches = self.batches, []
            for batch in batches:
                batch.callers -= 1
                if not batch.callers and not batch.open and not batch.done:  # no one waits
                    batch.dropped = True
                    batch.task.cancel()
            raise
        found: list[V | Exception] = []
        for batch, position in self.slots:
            value = batch.values[position]
            if isinstance(value, Exception) or not isinstance(value, BaseException):
                found.append(value)
            else:
                raise value
        return found


class _One(Generic[V]):
    """What `load` returns: its key's value, an exception raised."""

    __slots__ = ("many",)

    def __init__(self, many: _Many[Any, V]) -> None:
        self.many = many

    def __await__(self) -> Generator[Any, None, V]:
        (value,) = yield from self.many.__await__()
        if isinstance(value, Exception):
            raise value
        return value


class DataLoader(Generic[K, V]):
    """Loads keys in batches, each key once for the loader's life (one request's)."""

    __slots__ = ("_batch", "_cache", "_load_fn", "_loop", "_max_batch_size")

    def __init__(
        self,
        load_fn: LoadFn[K, V],
        *,
        max_batch_size: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._load_fn = load_fn
        self._max_batch_size = max_batch_size
        self._cache: dict[K, Slot[K, V]] = {}
        self._batch: _Batch[K, V] | None = None
        self._loop = loop  # None: the running loop, when first needed

    def load(self, key: K) -> Awaitable[V]:
        """The value of `key`; raises if it is an exception or `load_fn` raised."""
        return _One(_Many([self._slot(key)]))

    def load_many(self, keys: Sequence[K]) -> Awaitable[list[V | Exception]]:
        """The value of each key, or its error, in order."""
        return _Many([self._slot(key) for key in keys])

    def prime(self, key: K, value: V) -> None:
        """Remember `value` as `key`'s, unless the key is loaded or loading already: a row
        the request holds (what a write returned, the viewer) costs no statement to read."""
        if key in self._cache:
            return
        batch: _Batch[K, V] = _Batch()
        batch.keys.append(key)
        batch.values = (value,)
        batch.open = False
        batch.done = True
        self._cache[key] = (batch, 0)

    def _slot(self, key: K) -> Slot[K, V]:
        slot = self._cache.get(key)
        if slot is not None and not slot[0].dropped:
            return slot
        batch = self._batch
        if batch is None or not batch.open or len(batch.keys) >= self._max_batch_size:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            batch = self._batch = _Batch()
            batch.task = self._loop.create_task(self._run(batch))
        slot = self._cache[key] = (batch, len(batch.keys))
        batch.keys.append(key)
        return slot

    async def _run(self, batch: _Batch[K, V]) -> None:
        keys = batch.keys
        try:
            await asyncio.sleep(0)  # the one more iteration of Strawberry's two hops
            batch.open = False
            if not batch.callers:  # every caller was cancelled before it ran
                batch.dropped = True
                return
            values = await self._load_fn(keys)
            if len(values) != len(keys):
                raise ValueError(f"load_fn returned {len(values)} values for {len(keys)} keys")
            batch.values = values
        except Exception as error:  # noqa: BLE001 - the error of every key
            batch.values = [error] * len(keys)
        except BaseException as error:  # cancelled: any caller still waiting raises it
            batch.dropped = True
            batch.values = [error] * len(keys)
            raise
        finally:
            batch.open = False
            batch.done = True
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_result(None)
