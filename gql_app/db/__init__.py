"""Engines per dialect, the session factory and the per-request session lifecycle.

Every dialect difference of the service lives here (DESIGN.md contract 8).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
import uuid
import weakref
from collections import namedtuple
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import asyncpg
from sqlalchemy import Boolean, any_, bindparam, event, pool
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from gql_app.core.config import Settings, SslMode
from gql_app.core.errors import DatabaseBusy, DatabaseUnavailable, PublicError, QueryTimeout
from gql_app.core.lru import LRU

APPLICATION_NAME = "gql_app"
T = TypeVar("T")
logger = logging.getLogger(__name__)


def _ssl_context(mode: SslMode, ca_file: str | None) -> ssl.SSLContext | bool:
    if mode is SslMode.DISABLE:
        return False  # not None: asyncpg takes None for libpq's "prefer", and tries TLS first
    context = ssl.create_default_context(cafile=ca_file)
    if mode is SslMode.REQUIRE:
        # libpq's "require": encrypted, but neither the certificate nor the host is checked.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _pgbouncer_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


def _postgres_connect_args(settings: Settings, raw_url: str) -> dict[str, Any]:
    mode, ca_file = settings.ssl_for(raw_url)
    server_settings = {"application_name": APPLICATION_NAME}
    if not settings.db_pgbouncer:
        # PgBouncer refuses this startup parameter (or, told to ignore it, drops it):
        # behind it the timeout is set per transaction instead (`_statement_timeout_setter`).
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout,
        "server_settings": server_settings,
        "ssl": _ssl_context(mode, str(ca_file) if ca_file else None),
    }
    if settings.db_pgbouncer:
        # A transaction-pooling proxy hands each transaction another server connection:
        # no statement cache, and unique names for the statements asyncpg must prepare.
        args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _pgbouncer_statement_name,
        }
    return args


WRITE_OPTION = "gql_app_write"
# On the engine: read units run in autocommit. On a connection: this unit is such a read.
AUTOCOMMIT_READS_OPTION = "gql_app_autocommit_reads"
_READ_OPTION = "gql_app_read"
_AUTOCOMMIT_READ = {"isolation_level": "AUTOCOMMIT", _READ_OPTION: True}


class ReadUnitWroteError(RuntimeError):
    """A unit of work that was not opened with `write=True` tried to write."""


def _refuse_writes_in_reads(
    connection: Any, _cursor: Any, statement: Any, parameters: Any, context: Any, _many: bool
) -> tuple[Any, Any]:
    # In autocommit every statement commits alone: a read unit that wrote would not be atomic.
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    if writes and connection.get_execution_options().get(_READ_OPTION):
        raise ReadUnitWroteError("a unit of work writes: open it with write=True")
    return statement, parameters  # retval=True: listened to unwrapped, `_observed` knows it


def _ping_outside_a_transaction(dbapi_connection: Any) -> bool:
    """The pool's pre-ping in one round trip. SQLAlchemy's asyncpg ping wraps its `;` in
    BEGIN and ROLLBACK (PgBouncer's transaction mode needs that): on a direct connection,
    two more round trips per checkout, and the connection `idle in transaction` between."""
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.ping()
    finally:
        dbapi_connection.autocommit = False
    return True


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Pre-ping only connections that sat in the pool at least `idle_seconds`.

    A connection returned a moment ago was working a moment ago: under load, pinging it at
    every checkout costs a round trip per unit of work (several per request). Should the
    server have gone away in that moment, the unit's statement fails instead of the ping:
    the unit gets `DATABASE_UNAVAILABLE`, the pool is invalidated and reconnects, as with a
    failed ping.
    """
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping
    returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def note_return(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None: the connection was invalidated
            returned[dialect.get_driver_connection(dbapi_connection)] = time.monotonic()

    def ping_when_idle(dbapi_connection: Any) -> bool:
        at = returned.get(dialect.get_driver_connection(dbapi_connection))
        if at is not None and time.monotonic() - at < idle_seconds:
            return True
        return ping(dbapi_connection)

    event.listen(engine.sync_engine.pool, "checkin", note_return)
    dialect.do_ping = ping_when_idle  # type: ignore[method-assign]


_SET_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"


def _statement_timeout_setter(timeout_ms: int) -> Callable[[Any], None]:
    """A `begin` listener giving each transaction `timeout_ms` (like `SET LOCAL`)."""
    value = str(timeout_ms)

    def set_statement_timeout(connection: Any) -> None:
        connection.exec_driver_sql(_SET_STATEMENT_TIMEOUT, (value,))

    return set_statement_timeout


class _DropDebugRecords(logging.Filter):
    """Drops DEBUG records: those of these loggers carry values, not just statements."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# SQLAlchemy logs result rows at DEBUG, aiosqlite each call with its bound parameters:
# password and token hashes must not reach a log, whatever its levels (DESIGN.md contract 7).
_VALUE_LOGGERS = ("sqlalchemy.engine.Engine", "aiosqlite")
_DROP_DEBUG_RECORDS = _DropDebugRecords()


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (savepoints work, reads are in it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A writer takes the write lock up front: a deferred transaction that reads first and
    # writes later fails with "database is locked" when another writer got in between.
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


class _OneOf(ColumnElement[bool]):
    """`column` equals one of the values of the list bound to `name` (see `one_of`)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it is: no `= 1` where booleans are not native
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration is a list
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str) -> None:
        self.column = column
        self.name = name


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str
) -> ColumnElement[bool]:
    """`column IN` the list of values bound to `name`, as each dialect runs it best.

    PostgreSQL takes the list as one array (`column = ANY($1::BIGINT[])`): one statement text
    for any length, so it is prepared once and binds one parameter however many ids a batch
    has. Elsewhere the list expands into an `IN (...)` of one parameter per value.
    """
    return _OneOf(column, name)


@compiles(_OneOf)
def _compile_one_of(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    expanded = element.column.in_(bindparam(element.name, expanding=True))
    return compiler.process(expanded, **kw)


@compiles(_OneOf, "postgresql")
def _compile_one_of_postgresql(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)


def create_engine(
    settings: Settings, *, url: URL | None = None, raw_url: str | None = None, pooled: bool = True
) -> AsyncEngine:
    """The engine for `url` (default: the application's), configured for its dialect.

    `pooled=False` gives a connection per use, for one-shot commands such as migrations.
    """
    url = url if url is not None else settings.url
    raw_url = raw_url if raw_url is not None else settings.database_url
    # Bound parameters carry passwords, hashes and tokens: never in logs or error messages.
    options: dict[str, Any] = {
        "echo": settings.db_echo,
        "pool_pre_ping": True,
        "hide_parameters": True,
    }
    if not pooled:
        options["poolclass"] = pool.NullPool
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = _postgres_connect_args(settings, raw_url)
        if not settings.db_pgbouncer:  # behind it, the statement timeout needs a transaction
            options["execution_options"] = {AUTOCOMMIT_READS_OPTION: True}
        if pooled:
            options |= {
                "pool_size": settings.db_pool_size,
                "max_overflow": settings.db_max_overflow,
                "pool_timeout": settings.db_pool_timeout,
                "pool_recycle": settings.db_pool_recycle,
                "pool_use_lifo": True,
            }
    engine = sa_create_async_engine(url, **options)
    for name in _VALUE_LOGGERS:
        logging.getLogger(name).addFilter(_DROP_DEBUG_RECORDS)
    if url.get_backend_name() == "postgresql" and settings.db_pgbouncer:
        setter = _statement_timeout_setter(settings.db_statement_timeout_ms)
        event.listen(engine.sync_engine, "begin", setter)
    if engine.get_execution_options().get(AUTOCOMMIT_READS_OPTION):
        event.listen(
            engine.sync_engine, "before_cursor_execute", _refuse_writes_in_reads, retval=True
        )
        engine.sync_engine.dialect.do_ping = _ping_outside_a_transaction  # type: ignore[method-assign]
    if url.get_backend_name() == "postgresql" and pooled and settings.db_ping_after_seconds:
        _ping_when_idle(engine, settings.db_ping_after_seconds)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_migration_engine(settings: Settings) -> AsyncEngine:
    """An unpooled engine on the owner's URL (`MIGRATION_DATABASE_URL`)."""
    raw = settings.migration_database_url or settings.database_url
    return create_engine(settings, url=settings.migration_url, raw_url=raw, pooled=False)


_IN_AUTOCOMMIT_READ = "gql_app_in_autocommit_read"
_STALE_RERUN = "statement made stale by a schema change; running %s again"


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
    return await attempt()


@contextmanager
def _public_database_errors() -> Iterator[None]:
    """A failure of the database rather than of the request leaves as the `PublicError` of
    `public_database_error`; other errors leave as they are."""
    try:
        yield
    except Exception as exc:
        public = public_database_error(exc)
        if public is None:
            raise
        raise public from exc


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


class ReadResult(Protocol):
    """The rows a read unit's statement returned, on either way of reading (`Reads`)."""

    def __iter__(self) -> Iterator[Any]: ...

    def all(self) -> Sequence[Any]: ...

    def scalars(self) -> Iterable[Any]: ...

    def scalar_one(self) -> Any: ...


class Reads(Protocol):
    """What a read unit runs its statements on: a Core connection, or `_DriverReads`."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> ReadResult: ...


class ConnectionLostError(Exception):
    """The connection to the database broke during a read on the driver (`_DriverReads`)."""


Processor = Callable[[Any], Any] | None


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    """Rows read on the driver: tuples whose columns are also attributes, as SQLAlchemy's."""
    return namedtuple("Row", names, rename=True)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled once for the driver: its SQL, how to bind its parameters and how
    to type its rows, all as SQLAlchemy would."""

    compiled: SQLCompiler
    expanding: bool  # it has `IN` lists to expand: SQL and parameters are made per call
    positions: tuple[str, ...]
    binders: tuple[Processor, ...]
    names: tuple[str, ...]  # empty: a textual statement, named by the driver's columns
    typers: tuple[Processor, ...]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect) -> _Plan:
        if isinstance(statement, UpdateBase):
            raise ReadUnitWroteError("a unit of work writes: open it with write=True")
        compiled = (
            statement.compile(dialect=dialect) if isinstance(statement, ClauseElement) else None
        )
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {type(statement).__name__}")
        positions = tuple(compiled.positiontup or ())
        binders = compiled._bind_processors
        columns = compiled._result_columns
        return cls(
            compiled=compiled,
            expanding=bool(compiled.post_compile_params),
            positions=positions,
            binders=tuple(binders.get(name) for name in positions),  # type: ignore[misc]
            names=tuple(column.keyname for column in columns),
            typers=tuple(column.type._cached_result_processor(dialect, None) for column in columns),
        )

    def sql_and_arguments(self, parameters: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        if self.expanding:
            state = self.compiled.construct_expanded_state(parameters, escape_names=False)
            values, processors = state.parameters, state.processors
            names = state.positiontup or ()
            binders: Iterable[Processor] = (processors.get(name) for name in names)
            sql = state.statement
        else:
            values = self.compiled.construct_params(parameters, escape_names=False)
            names, binders, sql = self.positions, self.binders, self.compiled.string
        arguments = [
            value if bind is None else bind(value)
            for value, bind in zip((values[name] for name in names), binders, strict=True)
        ]
        return sql, arguments

    def rows(self, records: list[asyncpg.Record]) -> list[tuple[Any, ...]]:
        if not records:
            return []
        names = self.names or tuple(records[0].keys())
        make = _row_class(names)._make  # type: ignore[attr-defined]
        if not any(self.typers):
            return [make(record.values()) for record in records]
        typers = self.typers
        return [
            make(
                [
                    value if typer is None else typer(value)
                    for value, typer in zip(record.values(), typers, strict=True)
                ]
            )
            for record in records
        ]


class _DriverRows:
    """A statement's rows as `ReadResult` gives them."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]

    def scalar_one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0][0]


class _DriverReads:
    """A read unit's statements, run straight on the asyncpg connection (PostgreSQL reads in
    autocommit): compiled, bound and typed by SQLAlchemy once per statement (`_Plan`), without
    its execution context and result objects, which cost more than half of a read unit's CPU.
    Statements other than queries are refused (`ReadUnitWroteError`), as in `_AUTOCOMMIT_READ`.
    """

    __slots__ = ("_connection", "_dialect", "_plans")

    def __init__(self, connection: Any, plans: LRU[Executable, _Plan], dialect: Dialect) -> None:
        self._connection = connection
        self._plans = plans
        self._dialect = dialect

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> _DriverRows:
        plan = self._plans.get(statement)
        if plan is None:
            plan = _Plan.of(statement, self._dialect)
            self._plans.put(statement, plan)
        sql, arguments = plan.sql_and_arguments(parameters)
        return _DriverRows(plan.rows(await self._connection.fetch(sql, *arguments)))


_DRIVER_PLANS = 512
_PLANS: weakref.WeakKeyDictionary[AsyncEngine, LRU[Executable, _Plan]] = weakref.WeakKeyDictionary()


def _driver_plans(engine: AsyncEngine) -> LRU[Executable, _Plan] | None:
    """The engine's compiled statements for `_DriverReads`; None: its driver is not asyncpg."""
    if engine.dialect.driver != "asyncpg":
        return None
    plans = _PLANS.get(engine)
    if plans is None:
        plans = _PLANS[engine] = LRU(_DRIVER_PLANS)
    return plans


def _observed(engine: Engine) -> bool:
    """Whether someone watches the engine's statements: SQL logging (`DB_ECHO`, or the
    `sqlalchemy.engine` logger at INFO) or a statement event listener besides ours. Those
    see only what SQLAlchemy executes, so reads then take SQLAlchemy's way."""
    if engine.logger.isEnabledFor(logging.INFO):
        return True
    dispatch = engine.dispatch
    return any(fn is not _refuse_writes_in_reads for fn in dispatch.before_cursor_execute) or bool(
        dispatch.after_cursor_execute
    )


class SessionClosedError(RuntimeError):
    """A unit of work began after its request's session was closed."""


class RequestSession:
    """A request's one `AsyncSession` (DESIGN.md contracts 1 and 2).

    Strawberry resolves sibling fields concurrently, but a session runs one statement at a
    time: every unit of work takes the lock, runs in its own transaction, and returns the
    connection to the pool before the next one starts. The `AsyncSession` is made on the
    first `transaction()`: a request that only reads (`read()`) never needs one.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
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
            with _public_database_errors():
                try:
                    await session.begin()
                    if write:
                        await session.connection(execution_options={WRITE_OPTION: True})
                    elif self._autocommit_reads:
                        await session.connection(execution_options=_AUTOCOMMIT_READ)
                        session.info[_IN_AUTOCOMMIT_READ] = True
                    yield session
                    session.info.pop(_IN_AUTOCOMMIT_READ, None)
                    await session.commit()
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

    async def read(self, work: Callable[[Reads], Awaitable[T]]) -> T:
        """`await work(reads)` as one unit of work that only reads.

        What the DataLoaders run: no ORM session, transaction object or identity map. On
        PostgreSQL (not behind PgBouncer) in autocommit: straight on the driver
        (`_DriverReads`), or on a Core connection while someone watches the statements
        (`_observed`). Elsewhere on a Core connection in a transaction, as `transaction()`
        runs reads. A write raises `ReadUnitWroteError` on every way. A statement made stale
        by a schema change reruns the unit once (it only read; on the driver, asyncpg
        prepares it anew by itself); failures of the database leave as the `PublicError` of
        `public_database_error`.
        """
        async with self._turn():
            with _public_database_errors():
                return await _once_more_if_stale(lambda: self._read(work), "the read")

    async def _read(self, work: Callable[[Reads], Awaitable[T]]) -> T:
        if self._plans is not None and not _observed(self._engine.sync_engine):
            return await self._read_on_driver(work, self._plans)
        if self._autocommit_reads:
            async with _readers(self._engine).connect() as connection:
                return await work(connection)
        async with self._engine.begin() as connection:
            return await work(connection)

    async def _read_on_driver(
        self, work: Callable[[Reads], Awaitable[T]], plans: LRU[Executable, _Plan]
    ) -> T:
        """`work` on `_DriverReads`, on a connection of the engine's pool (pinged as usual).

        A connection that broke invalidates the pool, as SQLAlchemy does on a disconnect, and
        the unit fails with `ConnectionLostError`; one whose statement was cancelled midway
        is closed rather than returned.
        """
        fairy = await self._engine.raw_connection()
        connection = fairy.driver_connection
        try:
            return await work(_DriverReads(connection, plans, self._engine.dialect))
        except Exception as exc:
            if connection is None or connection.is_closed() or isinstance(exc, OSError):
                self._engine.sync_engine.pool._invalidate(fairy, exc)
                raise ConnectionLostError("the connection broke during a read") from exc
            raise
        except BaseException as exc:
            fairy.invalidate(exc)
            raise
        finally:
            fairy.close()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The session's lock, held by one unit of work; refused once the session is closed."""
        async with self._lock:
            if self._closed:
                raise SessionClosedError("the request is over: its session is closed")
            yield

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


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]]
) -> bool:
    """Bulk-load `records` with PostgreSQL's COPY; False (nothing done) on other dialects."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return False
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table, records=records, columns=list(columns)
    )
    return True


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:index '(\w+)'|(\w+)\.(\w+))")


def unique_violation(exc: IntegrityError) -> str | None:
    """The name of the unique constraint or index that `exc` violated, on either dialect."""
    name = getattr(exc.orig.__cause__ if exc.orig else None, "constraint_name", None)
    if isinstance(name, str):
        return name
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    if match is None:
        return None
    # SQLite names columns, not constraints; rebuild the name the naming convention gave.
    return match[1] or f"uq_{match[2]}_{match[3]}"


def foreign_key_violation(exc: IntegrityError) -> bool:
    """Whether `exc` is a violated foreign key (a referenced row is missing), on either dialect."""
    cause = exc.orig.__cause__ if exc.orig else None
    if getattr(cause, "sqlstate", None) == "23503":
        return True
    return "FOREIGN KEY constraint failed" in str(exc.orig)


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (`exc` itself if none)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig.__cause__ or exc.orig
    return exc


def describe_error(exc: BaseException) -> str:
    """One line saying why the database could not be used, without SQL or driver internals."""
    cause = _driver_error(exc)
    if isinstance(exc, SATimeoutError):
        return "no database connection free within DB_POOL_TIMEOUT"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"database certificate not trusted ({cause.verify_message}): "
            "check DB_SSL_CA and the host name in DATABASE_URL"
        )
    if isinstance(cause, ConnectionRefusedError | socket.gaierror) or (
        isinstance(cause, OSError) and not isinstance(cause, TimeoutError)
    ):
        return f"database unreachable ({cause.strerror or type(cause).__name__})"
    if isinstance(cause, TimeoutError):
        return "database did not answer within DB_CONNECT_TIMEOUT"
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in _SQLSTATE_MESSAGES:
        return _SQLSTATE_MESSAGES[sqlstate]
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"database error: {type(cause).__name__}" + (f": {first_line}" if first_line else "")


_SQLSTATE_MESSAGES = {
    "28P01": "database authentication failed (wrong password?)",
    # Also pg_hba.conf refusing the connection, e.g. a server that takes TLS only.
    "28000": "database authentication failed (role not allowed, or TLS required: DB_SSL_MODE?)",
    "3D000": "database does not exist",
    "57P03": "database is starting up or shutting down",
    "53300": "database has too many connections",
}


_STALE_STATEMENT_ERRORS = (
    asyncpg.exceptions.InvalidCachedStatementError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)


def is_stale_statement(exc: BaseException) -> bool:
    """`exc` says a prepared statement or type cache went stale under a schema change."""
    return isinstance(_driver_error(exc), _STALE_STATEMENT_ERRORS)


_QUERY_CANCELED = "57014"
# admin_shutdown, crash_shutdown, cannot_connect_now; class 08 is connection exceptions.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_TOO_MANY_CONNECTIONS = "53300"


def public_database_error(exc: BaseException) -> PublicError | None:
    """The typed error a client gets for a failure of the database, or None for other errors.

    Pool exhausted or the server out of connections: `DatabaseBusy`; server unreachable,
    shutting down or starting, connection lost: `DatabaseUnavailable`; statement cancelled
    by `statement_timeout`: `QueryTimeout`. Each heals by itself, so clients may retry.
    """
    cause = _driver_error(exc)
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(exc, SATimeoutError) or sqlstate == _TOO_MANY_CONNECTIONS:
        return DatabaseBusy("The database is busy; retry shortly.")
    if sqlstate == _QUERY_CANCELED:
        return QueryTimeout("The query took too long and was cancelled; nothing was changed.")
    lost = isinstance(exc, ConnectionLostError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if (
        lost
        or isinstance(cause, OSError)
        or sqlstate in _UNAVAILABLE_SQLSTATES
        or (isinstance(sqlstate, str) and sqlstate.startswith("08"))
    ):
        return DatabaseUnavailable("The database is unavailable; retry later.")
    return None
