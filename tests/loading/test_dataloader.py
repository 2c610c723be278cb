"""gql_app.loading.dataloader: batching, caching, errors and cancellation of the DataLoader."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest

from gql_app.loading.dataloader import DataLoader

T = TypeVar("T")


class Source:
    """A load_fn that records the keys of each call; each value is `key * 10`, or an error."""

    def __init__(self, fail: Callable[[int], BaseException | None] = lambda key: None) -> None:
        self.calls: list[list[int]] = []
        self.tasks: list[asyncio.Task[object] | None] = []
        self.fail = fail
        self.raises: Exception | None = None  # raised by each call
        self.release: asyncio.Event | None = None  # set: each call waits for it
        self.cancelled = False

    async def __call__(self, keys: list[int]) -> Sequence[int | BaseException]:
        self.calls.append(list(keys))
        self.tasks.append(asyncio.current_task())
        if self.release is not None:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if self.raises is not None:
            raise self.raises
        return [self.fail(key) or key * 10 for key in keys]


def loader(source: Source, max_batch_size: int = 100) -> DataLoader[int, int]:
    return DataLoader(source, max_batch_size=max_batch_size)


async def within_a_second(load: Callable[[], Awaitable[T]]) -> T:
    """Await `load()` (called in the awaiting task, as a resolver does); a hang fails."""
    async with asyncio.timeout(1):
        return await load()


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_keys_loaded_by_coroutines_of_one_iteration_form_one_batch() -> None:
    source = Source()
    users = loader(source)

    async def one(key: int) -> int:
        return await users.load(key)

    async def many(keys: list[int]) -> list[int | Exception]:
        return await users.load_many(keys)

    found = await asyncio.gather(one(1), many([2, 3]), one(4))
    assert list(found) == [10, [20, 30], 40]
    assert source.calls == [[1, 2, 3, 4]]


async def test_a_load_one_iteration_after_the_first_joins_its_batch() -> None:
    # As with Strawberry's DataLoader (call_soon, then create_task): resolvers one await
    # deeper than their siblings still share the batch.
    source = Source()
    users = loader(source)

    async def now(key: int) -> int:
        return await users.load(key)

    async def later(key: int) -> int:
        await asyncio.sleep(0)
        return await users.load(key)

    assert list(await asyncio.gather(now(1), later(2))) == [10, 20]
    assert source.calls == [[1, 2]]


async def test_duplicate_keys_are_fetched_once() -> None:
    source = Source()
    users = loader(source)
    found = await asyncio.gather(users.load_many([1, 2, 1]), users.load(2), users.load(1))
    assert list(found) == [[10, 20, 10], 20, 10]
    assert source.calls == [[1, 2]]


async def test_a_cached_key_is_not_fetched_again_by_a_later_batch() -> None:
    source = Source()
    users = loader(source)
    assert await users.load(1) == 10
    assert await users.load_many([1, 2]) == [10, 20]
    assert await users.load(2) == 20
    assert source.calls == [[1], [2]]


async def test_more_keys_than_max_batch_size_load_in_several_batches() -> None:
    source = Source()
    users = loader(source, max_batch_size=2)
    assert await users.load_many([1, 2, 3, 4, 5]) == [10, 20, 30, 40, 50]
    assert source.calls == [[1, 2], [3, 4], [5]]


async def test_an_exception_value_is_raised_for_its_key_only() -> None:
    source = Source(fail=lambda key: KeyError(key) if key == 2 else None)
    users = loader(source)
    one, two = users.load(1), users.load(2)
    assert await one == 10
    with pytest.raises(KeyError):
        await two


async def test_load_many_returns_each_error_in_place() -> None:
    source = Source(fail=lambda key: KeyError(key) if key % 2 == 0 else None)
    found = await loader(source).load_many([1, 2, 3, 4])
    assert found[0::2] == [10, 30]
    assert [type(error) for error in found[1::2]] == [KeyError, KeyError]


async def test_load_many_raises_a_value_that_is_not_an_exception() -> None:
    source = Source(fail=lambda key: asyncio.CancelledError() if key == 2 else None)
    with pytest.raises(asyncio.CancelledError):
        await loader(source).load_many([1, 2])


async def test_a_raising_load_fn_fails_every_load_of_its_batch() -> None:
    source = Source()
    source.raises = OSError("database down")
    users = loader(source)
    loads = [users.load(1), users.load(2)]
    for load in loads:
        with pytest.raises(OSError, match="database down"):
            await load
    assert source.calls == [[1, 2]]


async def test_a_raising_load_fn_fails_every_key_of_load_many() -> None:
    source = Source()
    source.raises = OSError("database down")
    found = await loader(source).load_many([1, 2, 3])
    assert [str(error) for error in found] == ["database down"] * 3


async def test_a_wrong_number_of_values_fails_every_key() -> None:
    async def short(keys: list[int]) -> list[int]:
        return [1]

    users: DataLoader[int, int] = DataLoader(short, max_batch_size=100)
    found = await users.load_many([1, 2])
    assert all(isinstance(error, ValueError) for error in found), found
    with pytest.raises(ValueError, match="1 values for 2 keys"):
        await users.load(1)


async def test_a_batch_runs_in_its_own_task_a_cancelled_caller_stops_no_other() -> None:
    source = Source()
    source.release = asyncio.Event()
    users = loader(source)
    first = asyncio.create_task(within_a_second(lambda: users.load(1)))
    second = asyncio.create_task(within_a_second(lambda: users.load_many([1, 2])))
    await turns(3)
    assert source.calls == [[1, 2]]
    assert source.tasks[0] not in (first, second, asyncio.current_task())
    first.cancel()
    await turns(1)
    source.release.set()
    assert await second == [10, 20]
    assert first.cancelled()
    assert not source.cancelled


async def test_a_batch_whose_callers_were_all_cancelled_does_not_load() -> None:
    source = Source()
    users = loader(source)
    callers = [
        asyncio.create_task(within_a_second(lambda: users.load_many([1, 2]))),
        asyncio.create_task(within_a_second(lambda: users.load(2))),
    ]
    await turns(1)  # both wait; the batch has not run yet
    assert not source.calls
    for caller in callers:
        caller.cancel()
    await turns(4)
    assert source.calls == []
    assert all(caller.cancelled() for caller in callers)


async def test_keys_of_a_batch_that_did_not_load_load_again() -> None:
    source = Source()
    users = loader(source)
    caller = asyncio.create_task(within_a_second(lambda: users.load(1)))
    await turns(1)
    caller.cancel()
    await turns(4)
    assert await users.load(1) == 10
    assert source.calls == [[1]]


async def test_a_running_batch_whose_callers_were_all_cancelled_is_cancelled() -> None:
    source = Source()
    source.release = asyncio.Event()
    users = loader(source)
    caller = asyncio.create_task(within_a_second(lambda: users.load(1)))
    await turns(3)
    assert source.calls == [[1]]
    caller.cancel()
    await turns(2)
    assert source.cancelled
    source.release = None
    assert await users.load(1) == 10  # loaded again
    assert source.calls == [[1], [1]]


async def test_a_loader_given_the_loop_never_asks_for_the_running_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = DataLoader(Source(), max_batch_size=10, loop=asyncio.get_running_loop())

    def refuse() -> asyncio.AbstractEventLoop:
        raise AssertionError("asked for the running loop")

    monkeypatch.setattr(asyncio, "get_running_loop", refuse)
    assert await given.load_many([1, 2]) == [10, 20]


async def test_a_primed_key_is_not_fetched() -> None:
    source = Source()
    users = loader(source)
    users.prime(1, 7)
    assert await users.load_many([1, 2]) == [7, 20]
    assert await users.load(1) == 7
    assert source.calls == [[2]]


async def test_priming_a_fetched_key_keeps_its_value() -> None:
    source = Source()
    users = loader(source)
    assert await users.load(1) == 10
    users.prime(1, 7)
    assert await users.load(1) == 10
    assert source.calls == [[1]]
