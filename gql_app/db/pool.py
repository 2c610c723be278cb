"""The connection pool, metered when metrics are on (`METRICS_PORT`): connections in use,
overflow, units of work waiting for one and how long, broken connections replaced; each
pool's figures under its `pool` label (`PoolShape.label`: primary, replica_N, ...)."""

from __future__ import annotations

from functools import cache
from time import perf_counter
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from gql_app.core import observability


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, reporting to `observability.metrics_sink`.

    The connections in use and the overflow are read by the metrics when they flush
    (`usage`), not written at each checkout and return. A checkout that finds no idle
    connection is counted as waiting (for a connection to come back, or for a new one to
    open) until it has one, and its wait is observed; the common checkout reports nothing
    (bench/RESULTS.md, "Observability cost"). `label` is the class's (`metered_pool`):
    SQLAlchemy makes a pool anew of the same class when the engine is disposed.
    """

    label = "primary"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sink = observability.metrics_sink
        if sink is not None:
            sink.pool_started(self.label, self.size(), self.usage)

    def usage(self) -> tuple[int, int]:
        """The connections in use and the overflow (negative: fewer than the size are open)."""
        return self.checkedout(), self.overflow()

    def _do_get(self) -> ConnectionPoolEntry:
        sink = observability.metrics_sink
        if sink is None or not self._pool.empty():
            return super()._do_get()
        started = perf_counter()
        sink.pool_waiting(self.label, 1)
        try:
            record = super()._do_get()
        finally:
            sink.pool_waiting(self.label, -1)
        sink.pool_waited(self.label, perf_counter() - started)
        return record

    def count_reconnect(self, *_args: object) -> None:
        """The pool's `invalidate` listener: a connection was found broken and is replaced."""
        sink = observability.metrics_sink
        if sink is not None:
            sink.reconnect(self.label)


@cache
def metered_pool(label: str) -> type[MeteredPool]:
    """The pool class whose figures carry `label` (one class per pool configured)."""
    return type(f"MeteredPool_{label}", (MeteredPool,), {"label": label})
