"""`Slots` (gql_app/core/slots.py): at most `limit` holders, the rest served in arrival order,
and no slot lost to a waiter cancelled at any moment."""

from __future__ import annotations

import asyncio

from gql_app.core.slots import Slots


async def _settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _holder(slots: Slots, name: str, order: list[str]) -> None:
    await slots.acquire()
    order.append(name)


async def test_at_most_limit_holders_at_once() -> None:
    slots, order = Slots(2), list[str]()
    tasks = [asyncio.create_task(_holder(slots, name, order)) for name in "abc"]
    await _settle()
    assert order == ["a", "b"]
    assert not tasks[2].done()
    slots.release()
    await _settle()
    assert order == ["a", "b", "c"]


async def test_waiters_are_served_in_arrival_order() -> None:
    slots, order = Slots(1), list[str]()
    await slots.acquire()
    tasks = [asyncio.create_task(_holder(slots, name, order)) for name in "abcd"]
    await _settle()
    for _ in tasks:
        slots.release()
        await _settle()
    assert order == ["a", "b", "c", "d"]


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    slots, order = Slots(1), list[str]()
    await slots.acquire()
    first = asyncio.create_task(_holder(slots, "first", order))
    second = asyncio.create_task(_holder(slots, "second", order))
    await _settle()
    first.cancel()
    await _settle()
    slots.release()
    await _settle()
    assert (first.cancelled(), second.done(), order) == (True, True, ["second"])


async def test_a_waiter_cancelled_after_being_given_the_slot_passes_it_on() -> None:
    slots, order = Slots(1), list[str]()
    await slots.acquire()
    first = asyncio.create_task(_holder(slots, "first", order))
    second = asyncio.create_task(_holder(slots, "second", order))
    await _settle()
    slots.release()  # hands the slot to `first`, which has not run yet
    first.cancel()
    await _settle()
    assert (first.cancelled(), order) == (True, ["second"])
    assert not second.cancelled()


async def test_a_slot_released_with_no_waiter_serves_a_later_request_at_once() -> None:
    slots = Slots(1)
    await slots.acquire()
    slots.release()
    await asyncio.wait_for(slots.acquire(), timeout=1)
    late = asyncio.create_task(slots.acquire())
    await _settle()
    assert not late.done()
    late.cancel()
