"""core.background: a duty's task, from start to stop."""

from __future__ import annotations

import asyncio

from gql_app.core.background import Background


class Counting(Background):
    def __init__(self) -> None:
        self.ticks = 0
        self.cancelled = False
        self.ticked = asyncio.Event()

    async def run(self) -> None:
        try:
            while True:
                self.ticks += 1
                if self.ticks == 3:
                    self.ticked.set()
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_started_duty_runs_until_stop_cancels_it_and_waits() -> None:
    duty = Counting()
    await duty.start()
    await duty.ticked.wait()
    await duty.stop()
    assert duty.cancelled
    ticks = duty.ticks
    await asyncio.sleep(0)
    assert duty.ticks == ticks


async def test_stopping_a_duty_never_started_does_nothing() -> None:
    duty = Counting()
    await duty.stop()
    assert duty.ticks == 0
    assert not duty.cancelled
