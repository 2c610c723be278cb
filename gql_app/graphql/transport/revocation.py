"""The worker's live authenticated streams by token, rechecked together (issue 14).

A socket or a multipart subscription authenticated with a token must stop once the token is
revoked (`logout`, `changePassword`), expires, or its user is deleted. Each one registers its
token's hash here for as long as it is open (`watch`); every `WS_AUTH_RECHECK_SECONDS` the
worker asks the primary (DESIGN.md contract 13) which of the registered tokens are still
live, in one statement for all of them, and calls back those whose token is not. A check
the database cannot answer (down, busy) decides nothing: the next one judges.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from functools import partial
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from gql_app import queries
from gql_app.core.background import Background
from gql_app.core.config import Settings
from gql_app.core.errors import PublicError
from gql_app.db import RequestSession
from gql_app.db.models import utcnow

logger = logging.getLogger(__name__)

# Tokens checked by one statement at most: SQLite binds each as a parameter of its own and
# takes no more than 32,766. Up to MAX_WEBSOCKETS' default, a worker's tokens take one.
CHECK_BATCH: Final = 10_000

Revoked = Callable[[], None]
T = TypeVar("T")


class Revocations(Background):
    """The worker's registry of watched tokens, and the task that checks them."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._interval = settings.ws_auth_recheck_seconds
        self._sessionmaker = sessionmaker
        self._watchers: dict[str, list[Revoked]] = {}

    @property
    def tokens(self) -> int:
        """How many distinct tokens are watched."""
        return len(self._watchers)

    def watch(self, token_hash: str, revoked: Revoked) -> Callable[[], None]:
        """Call `revoked()` (once) when the token stops being live; returns the way to stop
        watching (the stream closed first)."""
        self._watchers.setdefault(token_hash, []).append(revoked)

        def forget() -> None:
            watchers = self._watchers.get(token_hash)
            if watchers is not None and revoked in watchers:
                watchers.remove(revoked)
                if not watchers:
                    del self._watchers[token_hash]

        return forget

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except PublicError:  # the database is down or busy: the next check judges
                continue
            except Exception:
                logger.exception("token recheck: the check failed")

    async def check(self) -> None:
        """Ask which watched tokens are live; call back the watchers of the others."""
        watched = list(self._watchers)
        live: set[str] = set()
        session = RequestSession(self._sessionmaker)
        session.use_primary()
        try:
            for start in range(0, len(watched), CHECK_BATCH):
                batch = watched[start : start + CHECK_BATCH]
                check = partial(queries.live_token_hashes, token_hashes=batch, now=utcnow())
                live |= await session.read(check)
        finally:
            await session.close()
        for token_hash in watched:
            if token_hash not in live:
                for revoked in self._watchers.pop(token_hash, ()):
                    revoked()


async def until_revoked(
    revocations: Revocations,
    token_hash: str,
    source: AsyncIterator[T],
    revoked: asyncio.Event,
) -> AsyncGenerator[T, None]:
    """`source`'s items until the token stops being live: then `revoked` is set and `source`
    is closed, even while it waits for its next item (a multipart subscription's events)."""
    loop = asyncio.get_running_loop()
    unwatch = revocations.watch(token_hash, revoked.set)
    stopped = loop.create_task(revoked.wait())
    step: asyncio.Task[T] | None = None
    try:
        while not revoked.is_set():
            step = loop.create_task(_next(source))
            await asyncio.wait((step, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            try:
                item = step.result()
            except StopAsyncIteration:
                break
            yield item
    finally:
        unwatch()
        stopped.cancel()
        if step is not None and not step.done():
            step.cancel()
            await asyncio.wait((step,))
        await aclose(source)


async def _next(source: AsyncIterator[T]) -> T:
    return await anext(source)


async def aclose(source: AsyncIterator[Any]) -> None:
    """Close `source` if it can be (an async generator: its `finally` blocks run now)."""
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


def revocations_of(scope: Scope) -> Revocations:
    """The token registry of the app that `scope` belongs to (made at start-up)."""
    revocations = scope["app"].state.revocations
    if not isinstance(revocations, Revocations):
        raise TypeError("the app has no token registry: it has not started")
    return revocations
