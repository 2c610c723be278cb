"""Events on SQLite: the in-process form of LISTEN/NOTIFY (DESIGN.md contract 8).

On PostgreSQL a write publishes with `pg_notify` in its transaction, and the server
delivers the payload to every listening connection once that transaction commits. SQLite
has no such thing, and the embedded service is one process: a payload published in a
session waits in the session until its transaction commits, then goes to the callbacks
listening on the session's engine, in commit order; a rollback drops it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from gql_app.core.config import Settings
from gql_app.db.listener import Listener, NotificationListener

_PENDING = "gql_app_pending_events"
_LISTENERS: weakref.WeakKeyDictionary[Engine, list[Listener]] = weakref.WeakKeyDictionary()


def notifies_in_process(session: AsyncSession) -> bool:
    """The session's database has no NOTIFY: its events go through `publish_on_commit`."""
    return session.get_bind().dialect.name != "postgresql"


def publish_on_commit(session: AsyncSession, payload: str) -> None:
    """Deliver `payload` to the engine's listeners when the session's transaction commits."""
    session.info.setdefault(_PENDING, []).append(payload)


def listen_in_process(engine: AsyncEngine, listener: Listener) -> Callable[[], None]:
    """Call `listener(payload)` for each payload committed on `engine`; returns the way to
    stop."""
    listeners = _LISTENERS.setdefault(engine.sync_engine, [])
    listeners.append(listener)
    return lambda: listeners.remove(listener)


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    pending: list[str] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    for listener in list(_LISTENERS.get(engine, ())):
        for payload in pending:
            listener(payload)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)


class EventSource(Protocol):
    """Where a worker's events come from: started with the app, stopped with it. `listening`
    is set while events are received."""

    listening: asyncio.Event

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _InProcessSource:
    def __init__(self, engine: AsyncEngine, deliver: Listener) -> None:
        self._engine = engine
        self._deliver = deliver
        self._stop: Callable[[], None] | None = None
        self.listening = asyncio.Event()

    async def start(self) -> None:
        self._stop = listen_in_process(self._engine, self._deliver)
        self.listening.set()

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


def event_source(settings: Settings, engine: AsyncEngine, deliver: Listener) -> EventSource:
    """The worker's one source of events, calling `deliver(payload)` for each, in commit
    order: a dedicated LISTEN connection on PostgreSQL, the in-process form elsewhere."""
    if engine.dialect.name == "postgresql":
        return NotificationListener(settings, deliver)
    return _InProcessSource(engine, deliver)
