"""The per-request session: units of work, their transactions, and reruns of stale statements."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
)
from contextlib import AbstractContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypeVar, cast

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

from gql_app.core.errors import QueryTimeout
from gql_app.core.lru import LRU
from gql_app.core.observability import (
    count_stale_rerun,
    count_statement_timeout,
    unit_of_work_span,
)
from gql_app.db.errors import (
    ConnectionLostError,
    describe_error,
    is_stale_statement,
    public_database_error,
)
from gql_app.db.options import _AUTOCOMMIT_READ, AUTOCOMMIT_READS_OPTION, WRITE_OPTION
from gql_app.db.reads import Reads, _driver_plans, _DriverReads, _observed, _Plan
from gql_app.db.replicas import parse_position, replicas_of

T = TypeVar("T")


logger = logging.getLogger(__name__)


_IN_AUTOCOMMIT_READ = "gql_app_in_autocommit_read"


_STALE_RERUN = "statement made stale by a schema change; running %s again"


_ON_THE_PRIMARY = "a read failed on %s (%s); it runs again on the primary"


async def _once_more_if_stale(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """`await attempt()`, once more if it met a statement a schema change made stale
    (`is_stale_statement`): the driver has cleared its caches, the second attempt prepares
    anew. Only for what is safe to run twice (see `RequestSession.run`)."""
    try:
        return await attempt()
    except Exception as exc:
        if not is_stale_statement(exc):
            raise
    logger.info(_STALE_RERUN, what)
    count_stale_rerun()
    return await attempt()


class _PublicDatabaseErrors:
    """A failure of the database rather than of the request leaves as the `PublicError` of
    `public_database_error`; other errors leave as they are. A class, not a generator: one
    is entered per unit of work (bench/RESULTS.md, "Per-request overhead (issue 13, round 2)")."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, _type: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> Literal[False]:
        if not isinstance(exc, Exception):
            return False
        public = public_database_error(exc)
        if public is None:
            return False
        if isinstance(public, QueryTimeout):
            count_statement_timeout()
        raise public from exc


_public_database_errors = _PublicDatabaseErrors()


class _Session(AsyncSession):
    """An `AsyncSession` that reruns a statement of an autocommit read unit once when a
    schema change made its prepared statement stale (`is_stale_statement`): the statement
    was its own transaction, so nothing else is lost, and the unit never notices."""

    if not TYPE_CHECKING:  # to the type checker, AsyncSession's precise overloads stand

        async def execute(self, *args, **kwargs):
            execute = super().execute
            if not self.info.get(_IN_AUTOCOMMIT_READ):
                return await execute(*args, **kwargs)
            return await _once_more_if_stale(lambda: execute(*args, **kwargs), "the statement")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=_Session, expire_on_commit=False, autoflush=False)


_READERS: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _readers(engine: AsyncEngine) -> AsyncEngine:
    """`engine` with the options of an autocommit read (sharing its pool), made once."""
    readers = _READERS.get(engine)
    if readers is None:
        readers = _READERS[engine] = engine.execution_options(**_AUTOCOMMIT_READ)
    return readers


class SessionClosedError(RuntimeError):
    """A unit of work began after its request's session was closed."""


class _Turn:
    """`RequestSession._turn`'s context manager. A class, not an async generator: one is
    entered per unit of work, and an async generator costs the loop's first-iteration hook
    and a weak set."""

    __slots__ = ("_lock", "_session", "_span")
    _span: AbstractContextManager[object]

    def __init__(self, session: RequestSession) -> None:
        self._session = session
        self._lock = session._lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            if self._session._closed:
                raise SessionClosedError("the request is over: its session is closed")
            self._span = unit_of_work_span()
            self._span.__enter__()
        except BaseException:
            self._lock.release()
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            return self._span.__exit__(kind, exc, tb)
        finally:
            self._lock.release()


class RequestSession:
    """A request's one `AsyncSession` (DESIGN.md contracts 1 and 2).

    Strawberry resolves sibling fields concurrently, but a session runs one statement at a
    time: every unit of work takes the lock, runs in its own transaction, and returns the
    connection to the pool before the next one starts. The `AsyncSession` is made on the
    first `transaction()`: a request that only reads (`read()`) never needs one.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, read_after: str | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        bind = sessionmaker.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise TypeError("the sessionmaker must be bound to an AsyncEngine")
        self._engine = bind
        self._autocommit_reads = bool(bind.get_execution_options().get(AUTOCOMMIT_READS_OPTION))
        self._plans = _driver_plans(bind) if self._autocommit_reads else None
        self._wrote = False
        self._adopted: list[object] = []  # for the session to hold (`adopt`)
        # Where read units may go (DESIGN.md contract 13): the replicas that replayed
        # `read_after` (a commit position the client saw); None: the primary only.
        self._replicas = replicas_of(bind)
        self._after: int | None = None
        if self._replicas is not None and read_after is not None:
            self._after = parse_position(read_after)
            if self._after is None:  # not a position: no replica is known to be past it
                self._replicas = None

    def use_primary(self) -> None:
        """Every later read unit reads the primary (a mutation's, or after a write)."""
        self._replicas = None

    @property
    def wrote(self) -> bool:
        """A write unit of this session committed."""
        return self._wrote

    async def commit_position(self) -> str | None:
        """With replicas, after a write committed: the primary's WAL position past it, which
        a later request sends back to read what it wrote; None otherwise."""
        replicas = replicas_of(self._engine)
        if not self._wrote or replicas is None:
            return None
        async with self._turn():
            with _public_database_errors:
                return await replicas.commit_position()

    @asynccontextmanager
    async def transaction(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work, committed when the block ends and rolled back if it raises.

        `write=True` marks a unit that writes (on SQLite it takes the write lock at BEGIN).
        Other units only read; on PostgreSQL (not behind PgBouncer) they run in autocommit,
        each statement its own transaction: a read never leaves its connection `idle in
        transaction` while the event loop serves other requests (DESIGN.md contract 2), and
        costs no BEGIN and COMMIT round trips. A write in such a unit raises
        `ReadUnitWroteError`.
        A failure of the database rather than of the request (pool exhausted, server gone,
        statement timeout) leaves as the `PublicError` of `public_database_error`.

        A failed unit (its block raised, it was cancelled, or its commit failed) detaches the
        session's objects before it rolls back: a rollback would expire them, and an expired
        object cannot reload under asyncio, so objects that earlier units loaded (the viewer,
        what the loaders cached) would break every field resolved after the failure.
        """
        async with self._turn():
            if self._session is None:
                self._session = self._sessionmaker()
            session = self._session
            if write:
                self.use_primary()
            with _public_database_errors:
                try:
                    await session.begin()
                    if self._adopted:
                        session.add_all(self._adopted)
                        self._adopted.clear()
                    if write:
                        await session.connection(execution_options={WRITE_OPTION: True})
                    elif self._autocommit_reads:
                        await session.connection(execution_options=_AUTOCOMMIT_READ)
                        session.info[_IN_AUTOCOMMIT_READ] = True
                    yield session
                    session.info.pop(_IN_AUTOCOMMIT_READ, None)
                    await session.commit()
                    self._wrote = self._wrote or write
                except BaseException:
                    session.info.pop(_IN_AUTOCOMMIT_READ, None)
                    session.expunge_all()
                    await session.rollback()
                    raise

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, write: bool = False) -> T:
        """`await work(session)` as one unit of work, rerun once if it met a stale statement.

        A migration applied while the service runs can invalidate the statements the
        driver has prepared (`is_stale_statement`); the driver then clears its caches, and
        the same work succeeds on a second attempt. Read units on PostgreSQL need no `run`:
        in autocommit, the stale statement alone is rerun (`_Session`). A unit in a
        transaction (a write) fails whole; its transaction was rolled back whole, so the
        rerun is safe, provided `work` acts only through the session: no effects outside
        the database, no changes to objects it did not load itself.
        """

        async def attempt() -> T:
            async with self.transaction(write=write) as session:
                return await work(session)

        return await _once_more_if_stale(attempt, "the unit of work")

    async def read(self, work: Callable[[Reads], Awaitable[T]], *, primary: bool = False) -> T:
        """`await work(reads)` as one unit of work that only reads.

        What the DataLoaders run: no ORM session, transaction object or identity map. On
        PostgreSQL (not behind PgBouncer) in autocommit: straight on the driver
        (`_DriverReads`), or on a Core connection while someone watches the statements
        (`_observed`). Elsewhere on a Core connection in a transaction, as `transaction()`
        runs reads. A write raises `ReadUnitWroteError` on every way. A statement made stale
        by a schema change reruns the unit once (it only read; on the driver, asyncpg
        prepares it anew by itself); failures of the database leave as the `PublicError` of
        `public_database_error`.

        With replicas (`replicas_of`), a read unit goes to one in rotation that replayed the
        request's `read_after`, unless the session wrote or was told `use_primary`; a read
        that fails there because of the replica (its connection, a recovery conflict, a
        full pool) runs again on the primary. `transaction()` units always use the primary,
        and so does a read with `primary=True` (the viewer's lookup: DESIGN.md contract 13),
        whatever the session's other reads do.
        """
        async with self._turn():
            with _public_database_errors:
                replicas = None if primary else self._replicas
                if replicas is not None and (replica := replicas.pick(self._after)) is not None:
                    try:
                        return await _once_more_if_stale(
                            lambda: self._read(work, replica.engine, replica.plans), "the read"
                        )
                    except Exception as exc:
                        if not replicas.read_failed(replica, exc):
                            raise
                        logger.info(_ON_THE_PRIMARY, replica.name, describe_error(exc))
                return await _once_more_if_stale(
                    lambda: self._read(work, self._engine, self._plans), "the read"
                )

    async def _read(
        self,
        work: Callable[[Reads], Awaitable[T]],
        engine: AsyncEngine,
        plans: LRU[Executable, _Plan] | None,
    ) -> T:
        if plans is not None and not _observed(engine.sync_engine):
            return await self._read_on_driver(work, engine, plans)
        if self._autocommit_reads:
            async with _readers(engine).connect() as connection:
                return await work(connection)
        async with engine.begin() as connection:
            return await work(connection)

    async def _read_on_driver(
        self,
        work: Callable[[Reads], Awaitable[T]],
        engine: AsyncEngine,
        plans: LRU[Executable, _Plan],
    ) -> T:
        """`work` on `_DriverReads`, on a connection of the engine's pool (pinged as usual).

        A connection that broke invalidates the pool, as SQLAlchemy does on a disconnect, and
        the unit fails with `ConnectionLostError`; one whose statement was cancelled midway
        is closed rather than returned.
        """
        fairy = await engine.raw_connection()
        connection = fairy.driver_connection
        pool = engine.sync_engine.pool
        try:
            return await work(_DriverReads(connection, plans, engine))
        except Exception as exc:
            if connection is None or connection.is_closed() or isinstance(exc, OSError):
                await greenlet_spawn(pool._invalidate, fairy, exc)
                raise ConnectionLostError("the connection broke during a read") from exc
            raise
        except BaseException as exc:
            fairy.invalidate(exc)
            raise
        finally:
            if isinstance(pool, QueuePool) and pool.overflow() > 0:
                # Given back past the pool's size, the connection is closed: I/O that
                # SQLAlchemy's asyncpg adaptor does only inside its greenlet.
                await greenlet_spawn(fairy.close)
            else:
                fairy.close()

    def adopt(self, instance: T) -> T:
        """The session's object for the row of `instance`, a detached ORM object read outside
        the session (`read`): the one the session holds already, else `instance`, which the
        session holds from its next unit of work on as if that unit had loaded it (added
        once the unit's transaction began: an add outside one would begin one). A later
        unit's ORM statements (an UPDATE … RETURNING of that row) then refresh it in place.
        No statement runs."""
        if self._closed:
            raise SessionClosedError("the request is over: its session is closed")
        if self._session is not None:
            key = inspect(instance).key
            held = self._session.identity_map.get(key) if key is not None else None
            if held is not None:
                return cast(T, held)
        self._adopted.append(instance)
        return instance

    def _turn(self) -> _Turn:
        """The session's lock, held by one unit of work; refused once the session is closed.
        The unit's span (tracing on) covers its wait for a connection and its statements."""
        return _Turn(self)

    async def close(self) -> None:
        """End the request's database use, once the unit of work in progress (if any) ends.

        A resolver can outlive its operation: when a field fails, GraphQL execution stops
        waiting for its siblings, which keep running. Closing under their feet would break
        their unit of work; a unit they begin afterwards would hold a connection nobody
        returns. So close waits its turn, and later units raise `SessionClosedError`.
        """
        async with self._lock:
            self._closed = True
            if self._session is not None:
                await self._session.close()
