"""Prometheus metrics (prometheus-client), served by `gql-app serve` on `METRICS_PORT` only.

Imported only when metrics are on: `serve` sets `PROMETHEUS_MULTIPROC_DIR` before anything
imports prometheus-client, so every worker writes its figures there and the metrics server
adds them up (prometheus-client's multiprocess mode). Labels come from bounded sets: an
operation name beyond the first `METRICS_MAX_OPERATIONS` a worker saw is counted as `other`;
types, outcomes and error codes are the server's own. No label or value holds a variable, a
token or a query text.

A write of prometheus-client's multiprocess value is a locked write to a mapped file; one per
figure of every request cost more than the 5 % issue 16 allows (bench/RESULTS.md,
"Observability cost"). So the per-request figures (count, latency, statements, cost, error
codes, events delivered, admission and pool waits) are counted in plain Python and added to
prometheus-client's values by one thread every `FLUSH_SECONDS` and when the process exits;
the pools' connections in use and overflow are read then too. A scrape thus shows every
request that ended `FLUSH_SECONDS` (plus the flush's own time) before it. The rare figures
(timeouts, reruns, reconnects, password hashes, sockets and subscriptions opened and closed)
are written as they happen.
"""

from __future__ import annotations

import atexit
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from gql_app.core import observability
from gql_app.core.config import Settings
from gql_app.core.observability import RequestRecord

OTHER, ANONYMOUS = "other", "anonymous"
FLUSH_SECONDS = 0.5  # the longest a counted figure waits for a scrape to see it
_MAX_NAME_LENGTH = 100  # a longer operation name is `other` too

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STATEMENTS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
_COSTS = (1, 10, 100, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000)
_OPERATION = ("operation", "type")
_POOL = ("pool",)  # primary, replica_N, replica_N_check: the pools configured (PoolShape.label)

requests = Counter(
    "gql_app_graphql_requests",
    "GraphQL requests by operation name, type and outcome (ok, an error code, unexpected).",
    (*_OPERATION, "outcome"),
)
duration_seconds = Histogram(
    "gql_app_graphql_request_duration_seconds",
    "Time from a GraphQL request's arrival to the end of its response.",
    (*_OPERATION, "outcome"),
    buckets=_SECONDS,
)
statements = Histogram(
    "gql_app_graphql_statements",
    "SQL statements one GraphQL request ran.",
    _OPERATION,
    buckets=_STATEMENTS,
)
costs = Histogram(
    "gql_app_graphql_cost",
    "The measured cost of GraphQL operations (QUERY_MAX_COST's measure).",
    _OPERATION,
    buckets=_COSTS,
)
errors = Counter("gql_app_graphql_errors", "GraphQL errors by extensions.code.", ("code",))

pool_size = Gauge(
    "gql_app_db_pool_size",
    "Connections the pool keeps (DB_POOL_SIZE, REPLICA_POOL_SIZE).",
    _POOL,
    multiprocess_mode="livesum",
)
pool_checked_out = Gauge(
    "gql_app_db_pool_checked_out",
    "Connections in use by units of work.",
    _POOL,
    multiprocess_mode="livesum",
)
pool_overflow = Gauge(
    "gql_app_db_pool_overflow",
    "Connections open beyond the pool's size (negative: fewer than it are open yet).",
    _POOL,
    multiprocess_mode="livesum",
)
pool_waiting = Gauge(
    "gql_app_db_pool_waiting",
    "Units of work waiting for a connection from the pool.",
    _POOL,
    multiprocess_mode="livesum",
)
pool_wait = Histogram(
    "gql_app_db_pool_wait_seconds",
    "Time the units of work that found no idle connection waited for one (opening one included).",
    _POOL,
    buckets=_SECONDS,
)
statement_timeouts = Counter(
    "gql_app_db_statement_timeouts", "Statements cancelled at DB_STATEMENT_TIMEOUT_MS."
)
stale_reruns = Counter(
    "gql_app_db_stale_statement_reruns",
    "Statements or units of work run again after a schema change made a statement stale.",
)
reconnects = Counter(
    "gql_app_db_reconnects", "Pooled connections found broken and replaced by new ones.", _POOL
)

admission_waiting = Gauge(
    "gql_app_admission_waiting",
    "Requests waiting for a MAX_CONCURRENT_REQUESTS slot.",
    multiprocess_mode="livesum",
)
admission_wait = Histogram(
    "gql_app_admission_wait_seconds",
    "Time the requests that had to wait waited for their slot.",
    buckets=_SECONDS,
)
password_hashes = Gauge(
    "gql_app_password_hashes_in_flight",
    "Password hashes running or queued (at most twice PASSWORD_HASH_CONCURRENCY).",
    multiprocess_mode="livesum",
)

# The real-time work's figures (WebSocket subscriptions: gql_app/graphql/transport/).
websocket_connections = Gauge(
    "gql_app_websocket_connections", "Open GraphQL WebSockets.", multiprocess_mode="livesum"
)
subscriptions_active = Gauge(
    "gql_app_subscriptions_active",
    "Active subscriptions (over WebSockets and multipart HTTP).",
    multiprocess_mode="livesum",
)
events_delivered = Counter(
    "gql_app_subscription_events_delivered",
    "Subscription events delivered to clients (both transports).",
)
events_dropped = Counter(
    "gql_app_subscription_events_dropped",
    "Subscription events dropped (a subscriber too slow: its queue was full).",
)


class OperationNames:
    """The operation label of a name: itself among the first `limit` names seen, else `other`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._seen:
            return name
        if len(self._seen) >= self.limit or len(name) > _MAX_NAME_LENGTH or name == OTHER:
            return OTHER
        self._seen.add(name)
        return name


class _Pending(Protocol):
    def flush(self) -> None: ...


_P = TypeVar("_P", bound=_Pending)


class _Count:
    """A counter's increments since the last flush, in plain Python."""

    __slots__ = ("_child", "value")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.value = 0

    def flush(self) -> None:
        if self.value:
            self._child.inc(self.value)
            self.value = 0


class _Buckets:
    """A histogram's observations since the last flush, counted per bucket in plain Python.

    prometheus-client's `observe` takes one observation and writes twice; the flush adds the
    counts to the values a histogram child keeps (`_buckets`, `_sum`: no public call adds
    many observations at once).
    """

    __slots__ = ("_bounds", "_child", "counts", "sum")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: list[float] = child._upper_bounds  # +Inf last, as the child counts
        self.counts = [0] * len(self._bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """`value` in the first bucket whose upper bound is at least it (prometheus-client's)."""
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value

    def flush(self) -> None:
        if not any(self.counts):
            return
        for bucket, count in zip(self._child._buckets, self.counts, strict=True):
            if count:
                bucket.inc(count)
        self._child._sum.inc(self.sum)
        self.counts = [0] * len(self._bounds)
        self.sum = 0.0


class _Level:
    """A gauge's value in plain Python, written at a flush when it changed."""

    __slots__ = ("_child", "_written", "value")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.value = 0
        self._written = 0

    def flush(self) -> None:
        if self.value != self._written:
            self._written = self.value
            self._child.set(self.value)


class _Operation:
    """The counted figures of one (operation, type, outcome)."""

    __slots__ = ("cost", "count", "duration", "statements")

    def __init__(self, count: _Count, duration: _Buckets, statements: _Buckets, cost: _Buckets):
        self.count, self.duration, self.statements, self.cost = count, duration, statements, cost


class _PoolFigures:
    """The series of one pool (its label's children, looked up once); its connections in use
    and overflow read from the pool at each flush, written when they changed; its waits
    counted (a saturated server waits at most checkouts)."""

    def __init__(self, pool: str) -> None:
        self.size = pool_size.labels(pool)
        self.checked_out = pool_checked_out.labels(pool)
        self.overflow = pool_overflow.labels(pool)
        self.waiting = _Level(pool_waiting.labels(pool))
        self.wait = _Buckets(pool_wait.labels(pool))
        self.reconnects = reconnects.labels(pool)
        self.usage: Callable[[], tuple[int, int]] | None = None  # the newest pool's
        self._written: tuple[int, int] | None = None

    def flush(self) -> None:
        self.waiting.flush()
        self.wait.flush()
        usage = None if self.usage is None else self.usage()
        if usage is not None and usage != self._written:
            self._written = usage
            self.checked_out.set(usage[0])
            self.overflow.set(usage[1])


class _Counted:
    """The process's figures counted in plain Python, and the thread that flushes them.

    `lock` is held by the event loop while it counts one request's figures and by the
    flush, so a flush sees a request whole; the request counts are written last, so a scrape
    that sees a request counted sees its latency, statements, cost and errors too.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.operations: dict[tuple[str, str, str], _Operation] = {}
        self.errors: dict[str, _Count] = {}
        self.pools: dict[str, _PoolFigures] = {}
        self._of_type: dict[tuple[str, str], tuple[_Buckets, _Buckets]] = {}
        self._pending: list[_Pending] = []
        self._requests: list[_Count] = []  # flushed last: a scrape that sees a request sees all
        self.delivered = self._add(_Count(events_delivered))
        # Under load most requests wait for admission: counted too.
        self.admission_waiting = self._add(_Level(admission_waiting))
        self.admission_wait = self._add(_Buckets(admission_wait))
        self._thread: threading.Thread | None = None

    def _add(self, pending: _P) -> _P:
        self._pending.append(pending)
        return pending

    def operation(self, key: tuple[str, str, str]) -> _Operation:
        of_type = self._of_type.get(key[:2])
        if of_type is None:
            of_type = self._of_type[key[:2]] = (
                self._add(_Buckets(statements.labels(*key[:2]))),
                self._add(_Buckets(costs.labels(*key[:2]))),
            )
        duration = self._add(_Buckets(duration_seconds.labels(*key)))
        count = _Count(requests.labels(*key))
        self._requests.append(count)
        made = self.operations[key] = _Operation(count, duration, *of_type)
        return made

    def error(self, code: str) -> _Count:
        made = self.errors[code] = self._add(_Count(errors.labels(code)))
        return made

    def pool(self, pool: str) -> _PoolFigures:
        figures = self.pools.get(pool)
        if figures is None:
            figures = self.pools[pool] = self._add(_PoolFigures(pool))
        return figures

    def flush(self) -> None:
        with self.lock:
            for pending in self._pending:
                pending.flush()
            for count in self._requests:
                count.flush()

    def start(self) -> None:
        """The flushing thread (once per process), and a last flush at exit."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._every, name="metrics", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _every(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_counted = _Counted()


def flush() -> None:
    """Every figure counted so far, in prometheus-client's values now."""
    _counted.flush()


class RequestMetrics:
    """`Observer`'s `on_finish`: the figures of one GraphQL request."""

    def __init__(self, max_operations: int) -> None:
        self.names = OperationNames(max_operations)

    def __call__(self, record: RequestRecord, seconds: float) -> None:
        key = (
            self.names.label(record.operation_name),
            record.operation_type or "unknown",
            record.outcome or observability.UNEXPECTED,
        )
        counted = _counted
        with counted.lock:
            figures = counted.operations.get(key) or counted.operation(key)
            figures.count.value += 1
            figures.duration.observe(seconds)
            figures.statements.observe(record.statements)
            if record.cost is not None:
                figures.cost.observe(record.cost)
            for code in record.error_codes or ():
                (counted.errors.get(code) or counted.error(code)).value += 1


class _Sink:
    """The hooks of gql_app/core/observability.py (`MetricsSink`), counted."""

    def stale_rerun(self) -> None:
        stale_reruns.inc()

    def statement_timeout(self) -> None:
        statement_timeouts.inc()

    def admission_waiting(self, change: int) -> None:
        _counted.admission_waiting.value += change  # only the event loop changes it

    def admission_waited(self, seconds: float) -> None:
        with _counted.lock:
            _counted.admission_wait.observe(seconds)

    def password_hashes(self, change: int) -> None:
        password_hashes.inc(change)

    def pool_started(self, pool: str, size: int, usage: Callable[[], tuple[int, int]]) -> None:
        figures = _counted.pool(pool)
        figures.size.set(size)
        figures.usage = usage

    def pool_waiting(self, pool: str, change: int) -> None:
        _counted.pool(pool).waiting.value += change  # only the event loop changes it

    def pool_waited(self, pool: str, seconds: float) -> None:
        figures = _counted.pool(pool)
        with _counted.lock:
            figures.wait.observe(seconds)

    def reconnect(self, pool: str) -> None:
        _counted.pool(pool).reconnects.inc()

    def websockets(self, change: int) -> None:
        websocket_connections.inc(change)

    def subscriptions(self, change: int) -> None:
        subscriptions_active.inc(change)

    def events_delivered(self) -> None:
        with _counted.lock:
            _counted.delivered.value += 1

    def events_dropped(self, count: int) -> None:
        events_dropped.inc(count)


def request_metrics(settings: Settings) -> RequestMetrics:
    """The worker's per-request figures; from now on the hooks of every layer count too, and
    the counted figures are flushed every `FLUSH_SECONDS`."""
    _counted.start()
    observability.metrics_sink = _Sink()
    return RequestMetrics(settings.metrics_max_operations)
