"""What operators see of a request: its record, the log format, the access and slow-operation lines.

Every layer may call these hooks; they import nothing else of gql_app but settings. Each
HTTP or WebSocket request gets a `RequestRecord` (made by the request id middleware, kept in
a context variable), which the GraphQL transports fill (operation name and type, cost,
outcome) and the database layer counts statements into. When the request ends, `Observer`
writes its access line (`ACCESS_LOG`), its slow-operation warning (`SLOW_OPERATION_MS`) and
its metrics (gql_app/core/metrics.py, when `METRICS_PORT` is set). Every log line written
while a request runs carries its request id (`LogFormatter`). No signal carries variable
values, tokens or passwords: only names, counts, codes and a hash of the document.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, Protocol

import orjson

from gql_app.core.config import Settings

UNEXPECTED = "unexpected"  # the outcome of an operation that met an unexpected error
access_logger = logging.getLogger("gql_app.access")
slow_logger = logging.getLogger("gql_app.slow")


class RequestRecord:
    """What one request did, as far as operators may know: no values, only what they are."""

    __slots__ = (
        "cost",
        "error_codes",
        "method",
        "operation_name",
        "operation_type",
        "outcome",
        "path",
        "query",
        "request_id",
        "span",
        "span_token",
        "started",
        "statements",
    )

    def __init__(self, request_id: str, method: str, path: str) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.started = perf_counter()
        self.operation_name: str | None = None
        self.operation_type: str | None = None  # query, mutation, subscription
        self.query: str | None = None  # the document, only ever logged as its hash
        self.cost: int | None = None
        self.outcome: str | None = None  # ok, an error code, or `unexpected`
        self.error_codes: list[str] | None = None  # `extensions.code` of each error
        self.statements = 0
        self.span: Any = None  # the operation's span, while it runs (tracing on)
        self.span_token: Any = None


_current: ContextVar[RequestRecord | None] = ContextVar("gql_app_request_record", default=None)


def current_record() -> RequestRecord | None:
    """The record of the request being served, or None outside any request."""
    return _current.get()


def begin_request(request_id: str, method: str, path: str) -> RequestRecord:
    """A record for a request starting now, current until `Observer.finish`."""
    record = RequestRecord(request_id, method, path)
    _current.set(record)
    return record


def count_statement() -> None:
    """One SQL statement more for the current request (the driver-level reads call this)."""
    record = _current.get()
    if record is not None:
        record.statements += 1


def count_executed_statement(
    _connection: Any, _cursor: Any, statement: Any, parameters: Any, context: Any, _many: bool
) -> tuple[Any, Any]:
    """`count_statement` as SQLAlchemy's `before_cursor_execute` listener (`retval=True`):
    statements compiled from queries count, transaction control sent as text does not."""
    if context is not None and context.compiled is not None:
        count_statement()
    return statement, parameters


class MetricsSink(Protocol):
    """Where the layers' hooks below report, when metrics are on (gql_app/core/metrics.py)."""

    def stale_rerun(self) -> None: ...
    def statement_timeout(self) -> None: ...
    def admission_waiting(self, change: int) -> None: ...
    def admission_waited(self, seconds: float) -> None: ...
    def password_hashes(self, change: int) -> None: ...
    # `pool`: which pool (primary, replica_N, ...), a label of a bounded set.
    def pool_started(self, pool: str, size: int, usage: Callable[[], tuple[int, int]]) -> None:
        """A pool of `size` began; `usage()` reads its connections in use and its overflow."""
        ...

    def pool_waiting(self, pool: str, change: int) -> None: ...
    def pool_waited(self, pool: str, seconds: float) -> None: ...
    def reconnect(self, pool: str) -> None: ...
    def websockets(self, change: int) -> None: ...
    def subscriptions(self, change: int) -> None: ...
    def events_delivered(self) -> None: ...
    def events_dropped(self, count: int) -> None: ...


# Set by gql_app/core/metrics.py when metrics are on; None costs each hook one comparison.
metrics_sink: MetricsSink | None = None


def count_stale_rerun() -> None:
    if metrics_sink is not None:
        metrics_sink.stale_rerun()


def count_statement_timeout() -> None:
    if metrics_sink is not None:
        metrics_sink.statement_timeout()


def count_admission_wait(seconds: float | None) -> None:
    """A request starts waiting for its admission slot (None), or got it after `seconds`."""
    if metrics_sink is not None:
        if seconds is None:
            metrics_sink.admission_waiting(1)
        else:
            metrics_sink.admission_waiting(-1)
            metrics_sink.admission_waited(seconds)


def count_password_hashes(change: int) -> None:
    """`change` more password hashes (negative: fewer) running or queued."""
    if metrics_sink is not None:
        metrics_sink.password_hashes(change)


def count_websockets(change: int) -> None:
    """`change` more GraphQL WebSockets open (negative: fewer)."""
    if metrics_sink is not None:
        metrics_sink.websockets(change)


def count_subscriptions(change: int) -> None:
    """`change` more subscriptions active (negative: fewer)."""
    if metrics_sink is not None:
        metrics_sink.subscriptions(change)


def count_event_delivered() -> None:
    """A subscription event was sent to its client."""
    if metrics_sink is not None:
        metrics_sink.events_delivered()


def count_events_dropped(count: int = 1) -> None:
    """`count` subscription events were dropped: their subscriber fell behind."""
    if metrics_sink is not None:
        metrics_sink.events_dropped(count)


class TracingHooks(Protocol):
    """Where the hooks below make spans, when tracing is on (gql_app/core/tracing.py)."""

    def start_operation(self, record: RequestRecord) -> None: ...
    def end_operation(self, record: RequestRecord) -> None: ...
    def unit_of_work(self) -> AbstractContextManager[object]: ...
    def statement(self, sql: str, attributes: Mapping[str, Any]) -> AbstractContextManager[object]:
        """Around one statement the driver-level reads run (gql_app/db/reads.py)."""
        ...


# Set by gql_app/core/tracing.py when tracing is on: off, no OpenTelemetry code runs.
tracing: TracingHooks | None = None
# The statement listeners tracing added to engines (the official SQLAlchemy instrumentation's):
# the driver-level reads trace their statements themselves, so these do not count as someone
# watching SQLAlchemy's statements (`gql_app.db.reads._observed`).
statement_tracers: frozenset[object] = frozenset()
_NO_SPAN = nullcontext()


def start_operation_span() -> None:
    """The current request's GraphQL operation begins (its span, when tracing is on)."""
    record = _current.get()
    if tracing is not None and record is not None and record.span is None:
        tracing.start_operation(record)


def end_operation_span(record: RequestRecord) -> None:
    """`record`'s operation ended: its span gets the record's name, type, cost and outcome."""
    if tracing is not None and record.span is not None:
        tracing.end_operation(record)


def unit_of_work_span() -> AbstractContextManager[object]:
    """Around one database unit of work: its span when tracing is on, else nothing."""
    return _NO_SPAN if tracing is None else tracing.unit_of_work()


def document_hash(query: str) -> str:
    """A short SHA-256 of a query text: names a document in logs and traces without its text
    (which may hold literal values)."""
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def _no_trace_id() -> str | None:
    return None


# Replaced when tracing is on (gql_app/core/tracing.py): the current trace id, or None.
trace_id_of_current_span: Callable[[], str | None] = _no_trace_id


def _fields(record: RequestRecord, status: int, duration: float) -> dict[str, Any]:
    return {
        "method": record.method,
        "path": record.path,
        "status": status,
        "duration_ms": round(duration * 1000, 2),
        "operation_name": record.operation_name,
        "operation_type": record.operation_type,
        "statements": record.statements,
        "cost": record.cost,
        "outcome": record.outcome,
    }


def _key_values(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={'-' if value is None else value}" for key, value in fields.items())


class Observer:
    """What the end of each request writes, per `settings`; made once per app."""

    __slots__ = ("_access_log", "_on_finish", "_slow_seconds")

    def __init__(
        self, settings: Settings, on_finish: Callable[[RequestRecord, float], None] | None
    ):
        self._access_log = settings.access_log
        self._slow_seconds = settings.slow_operation_ms / 1000 if settings.slow_operation_ms else 0
        self._on_finish = on_finish  # the metrics of a request (gql_app/core/metrics.py)

    def finish(self, record: RequestRecord, status: int) -> None:
        """The request of `record` ended with `status`: its lines and metrics."""
        duration = perf_counter() - record.started
        if self._access_log:
            fields = _fields(record, status, duration)
            access_logger.info(_key_values(fields), extra={"fields": fields})
        if self._slow_seconds and duration >= self._slow_seconds and record.query is not None:
            fields = {
                "operation_name": record.operation_name,
                "operation_type": record.operation_type,
                "document_hash": document_hash(record.query),
                "duration_ms": round(duration * 1000, 2),
                "statements": record.statements,
                "cost": record.cost,
                "outcome": record.outcome,
            }
            slow_logger.warning("slow operation " + _key_values(fields), extra={"fields": fields})
        if self._on_finish is not None and record.operation_type is not None:
            self._on_finish(record, duration)
        end_operation_span(record)  # one that raised before its result
        _current.set(None)


class LogFormatter(logging.Formatter):
    """One format for every logger of the process, ours and uvicorn's: text or JSON lines.

    Each line written while a request runs carries its request id (and trace id when tracing
    is on). JSON lines hold `time`, `level`, `logger`, `message`, `request_id`, `trace_id`,
    the fields of access and slow-operation lines, and `exception` with its traceback.
    """

    def __init__(self, *, json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        current = _current.get()
        request_id = current.request_id if current is not None else None
        trace_id = trace_id_of_current_span()
        if not self.json:
            line = super().format(record)
            tags = "".join(
                f" [{name} {value}]"
                for name, value in (("request", request_id), ("trace", trace_id))
                if value
            )
            head, newline, tail = line.partition("\n")
            return f"{head}{tags}{newline}{tail}"
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id:
            entry["request_id"] = request_id
        if trace_id:
            entry["trace_id"] = trace_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry |= fields
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(settings: Settings) -> dict[str, Any]:
    """The `logging.config.dictConfig` of `serve` (uvicorn's `log_config`): one handler on
    stderr with `LogFormatter`, for the root logger and uvicorn's, at `LOG_LEVEL`."""
    level = settings.log_level.upper()
    handler = {"handlers": ["default"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {"()": f"{__name__}.LogFormatter", "json": settings.log_json},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": handler,
            "uvicorn.error": {"level": level},
            # With a handler of its own, DB_ECHO's logger gets no second one from SQLAlchemy.
            "sqlalchemy.engine.Engine": {"handlers": ["default"], "propagate": False},
            # serve's migration check: a failure stays one line, as before (`gql-app: error`).
            "alembic": {"level": "WARNING"},
        },
    }
