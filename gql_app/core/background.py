"""A worker's standing duty (the LISTEN connection, the token recheck): one task of its own
from `start()` until `stop()`."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    """Runs `run()` in a task of its own from `start()`; `stop()` cancels it and waits."""

    _task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """The duty; it runs until cancelled."""
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
