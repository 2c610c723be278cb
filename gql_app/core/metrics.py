"""Prometheus metrics (prometheus-client), served by `gql-app serve` on `METRICS_PORT` only.

Imported only when metrics are on: `serve` sets `PROMETHEUS_MULTIPROC_DIR` before anything
imports prometheus-client, so every worker writes its figures there and the metrics server
adds them up (prometheus-client's multiprocess mode). Labels come from bounded sets: an
operation name beyond the first `METRICS_MAX_OPERATIONS` a worker saw is counted as `other`;
types, outcomes and error codes are the server's own. No label or value holds a variable, a
token or a query text.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from gql_app.core import observability
from gql_app.core.config import Settings
from gql_app.core.observability import RequestRecord

OTHER, ANONYMOUS = "other", "anonymous"
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
duration = Histogram(
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
    "Active subscriptions over WebSockets.",
    multiprocess_mode="livesum",
)
events_delivered = Counter(
    "gql_app_subscription_events_delivered", "Subscription events delivered to clients."
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


class RequestMetrics:
    """`Observer`'s `on_finish`: the figures of one GraphQL request."""

    def __init__(self, max_operations: int) -> None:
        self.names = OperationNames(max_operations)
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any, Any]] = {}

    def __call__(self, record: RequestRecord, seconds: float) -> None:
        operation_type = record.operation_type or "unknown"
        outcome = record.outcome or observability.UNEXPECTED
        key = (self.names.label(record.operation_name), operation_type, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                requests.labels(*key),
                duration.labels(*key),
                statements.labels(*key[:2]),
                costs.labels(*key[:2]),
            )
        count, latency, statement_count, cost = children
        count.inc()
        latency.observe(seconds)
        statement_count.observe(record.statements)
        if record.cost is not None:
            cost.observe(record.cost)
        for code in record.error_codes or ():
            errors.labels(code).inc()


class _PoolFigures:
    """The series of one pool (its label's children, looked up once)."""

    def __init__(self, pool: str) -> None:
        self.size = pool_size.labels(pool)
        self.checked_out = pool_checked_out.labels(pool)
        self.overflow = pool_overflow.labels(pool)
        self.waiting = pool_waiting.labels(pool)
        self.wait = pool_wait.labels(pool)
        self.reconnects = reconnects.labels(pool)
        self.last_overflow: int | None = None


class _Sink:
    """The hooks of gql_app/core/observability.py (`MetricsSink`), counted."""

    def __init__(self) -> None:
        self._pools: dict[str, _PoolFigures] = {}

    def _pool(self, pool: str) -> _PoolFigures:
        figures = self._pools.get(pool)
        if figures is None:
            figures = self._pools[pool] = _PoolFigures(pool)
        return figures

    def stale_rerun(self) -> None:
        stale_reruns.inc()

    def statement_timeout(self) -> None:
        statement_timeouts.inc()

    def admission_waiting(self, change: int) -> None:
        admission_waiting.inc(change)

    def admission_waited(self, seconds: float) -> None:
        admission_wait.observe(seconds)

    def password_hashes(self, change: int) -> None:
        password_hashes.inc(change)

    def pool_started(self, pool: str, size: int) -> None:
        self._pool(pool).size.set(size)

    def pool_waiting(self, pool: str, change: int) -> None:
        self._pool(pool).waiting.inc(change)

    def pool_waited(self, pool: str, seconds: float) -> None:
        self._pool(pool).wait.observe(seconds)

    def pool_state(self, pool: str, checked_out: int, overflow: int) -> None:
        figures = self._pool(pool)
        figures.checked_out.set(checked_out)
        if overflow != figures.last_overflow:  # it changes only as connections come and go
            figures.last_overflow = overflow
            figures.overflow.set(overflow)

    def reconnect(self, pool: str) -> None:
        self._pool(pool).reconnects.inc()

    def websockets(self, change: int) -> None:
        websocket_connections.inc(change)

    def subscriptions(self, change: int) -> None:
        subscriptions_active.inc(change)

    def events_delivered(self) -> None:
        events_delivered.inc()

    def events_dropped(self, count: int) -> None:
        events_dropped.inc(count)


def request_metrics(settings: Settings) -> RequestMetrics:
    """The worker's per-request figures; from now on the hooks of every layer count too."""
    observability.metrics_sink = _Sink()
    return RequestMetrics(settings.metrics_max_operations)
