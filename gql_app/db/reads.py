"""Read units straight on the asyncpg driver, and the protocol both ways of reading share."""

from __future__ import annotations

import logging
import weakref
from collections import namedtuple
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from gql_app.core import observability
from gql_app.core.lru import LRU
from gql_app.core.observability import count_executed_statement, count_statement
from gql_app.db.options import ReadUnitWroteError, _refuse_writes_in_reads


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
    # How to type a row's values as SQLAlchemy would: the position and typer of each column
    # that has one.
    typed: tuple[tuple[int, Callable[[Any], Any]], ...]

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
        typers = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
        return cls(
            compiled=compiled,
            expanding=bool(compiled.post_compile_params),
            positions=positions,
            binders=tuple(binders.get(name) for name in positions),  # type: ignore[misc]
            names=tuple(column.keyname for column in columns),
            typed=tuple(
                (position, typer) for position, typer in enumerate(typers) if typer is not None
            ),
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
        """Rows whose columns are also attributes, as SQLAlchemy's."""
        if not records:
            return []
        names = self.names or tuple(records[0].keys())
        make = _row_class(names)._make  # type: ignore[attr-defined]
        return [make(values) for values in self.values(records)]

    def values(self, records: list[asyncpg.Record]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples."""
        typed = self.typed
        if not typed:
            return [tuple(record.values()) for record in records]
        # Only the columns with a typer are visited: a loop per row over every column cost
        # a call per row and a test per value (bench/RESULTS.md, "Per-request overhead").
        rows = []
        for record in records:
            row = list(record.values())
            for position, typer in typed:
                row[position] = typer(row[position])
            rows.append(tuple(row))
        return rows


class _DriverRows:
    """A statement's rows as `ReadResult` gives them, made when asked for."""

    __slots__ = ("_plan", "_records")

    def __init__(self, plan: _Plan, records: list[asyncpg.Record]) -> None:
        self._plan = plan
        self._records = records

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.all())

    def all(self) -> list[tuple[Any, ...]]:
        return self._plan.rows(self._records)

    def plain(self) -> list[tuple[Any, ...]]:
        return self._plan.values(self._records)

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.plain()]

    def scalar_one(self) -> Any:
        if not self._records:
            raise NoResultFound("No row was found when one was required")
        if len(self._records) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.plain()[0][0]


def by_position(result: Iterable[Any]) -> Iterable[Sequence[Any]]:
    """The rows of `result` for a caller that reads them by position only: plain tuples on
    the driver (the garbage collector stops tracking them at its next collection, their
    values being atomic, where it walks a row with attributes as long as it lives),
    SQLAlchemy's rows otherwise."""
    return result.plain() if isinstance(result, _DriverRows) else result


class _DriverReads:
    """A read unit's statements, run straight on the asyncpg connection (PostgreSQL reads in
    autocommit): compiled, bound and typed by SQLAlchemy once per statement (`_Plan`), without
    its execution context and result objects, which cost more than half of a read unit's CPU.
    Statements other than queries are refused (`ReadUnitWroteError`), as in `_AUTOCOMMIT_READ`.
    With tracing on, each statement has its span (`observability.tracing.statement`).
    """

    __slots__ = ("_connection", "_dialect", "_plans", "_url")

    def __init__(self, connection: Any, plans: LRU[Executable, _Plan], engine: AsyncEngine) -> None:
        self._connection = connection
        self._plans = plans
        self._dialect = engine.dialect
        self._url = engine.url

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> _DriverRows:
        plan = self._plans.get(statement)
        if plan is None:
            plan = _Plan.of(statement, self._dialect)
            self._plans.put(statement, plan)
        sql, arguments = plan.sql_and_arguments(parameters)
        count_statement()
        tracing = observability.tracing
        if tracing is None:
            return _DriverRows(plan, await self._connection.fetch(sql, *arguments))
        with tracing.statement(sql, _server_attributes(self._url)):
            records = await self._connection.fetch(sql, *arguments)
        return _DriverRows(plan, records)


@lru_cache(maxsize=64)
def _server_attributes(url: URL) -> dict[str, Any]:
    """The server of a statement's span, as the official SQLAlchemy instrumentation names it
    from the engine's URL (OpenTelemetry's database conventions, its default mode)."""
    found = {
        "db.system": "postgresql",
        "db.name": url.database,
        "db.user": url.username,
        "net.peer.name": url.host,
        "net.peer.port": url.port,
    }
    return {key: value for key, value in found.items() if value is not None}


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
    `sqlalchemy.engine` logger at INFO) or a statement event listener besides ours and
    tracing's (whose spans the driver-level reads make themselves). Those see only what
    SQLAlchemy executes, so reads then take SQLAlchemy's way."""
    if engine.logger.isEnabledFor(logging.INFO):
        return True
    dispatch = engine.dispatch
    tracers = observability.statement_tracers
    # Loops, not `any` over generators: this runs once per read unit.
    for fn in dispatch.before_cursor_execute:
        if fn not in _OUR_LISTENERS and fn not in tracers:
            return True
    for fn in dispatch.after_cursor_execute:  # noqa: SIM110 - see above
        if fn not in tracers:
            return True
    return False


# Listeners of ours that the driver-level reads do without: they refuse writes (`_Plan.of`)
# and count their statements (`count_statement`) themselves.
_OUR_LISTENERS = (_refuse_writes_in_reads, count_executed_statement)
