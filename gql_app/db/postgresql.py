"""PostgreSQL's connections: TLS, PgBouncer, statement timeouts, pings and COPY."""

from __future__ import annotations

import ssl
import time
import uuid
import weakref
from collections.abc import (
    Callable,
    Sequence,
)
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql_app.core.config import Settings, SslMode

APPLICATION_NAME = "gql_app"


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


@dataclass(frozen=True, slots=True)
class PoolShape:
    """A PostgreSQL pool: its size and overflow, the `application_name` its connections show
    in `pg_stat_activity`, a timeout (seconds) for connecting and for every statement
    (None: `DB_CONNECT_TIMEOUT`, and no bound but the server's `statement_timeout`), and the
    `pool` label of its metrics (`primary`, `replica_N`, ...: one per pool configured)."""

    size: int
    overflow: int
    application_name: str = APPLICATION_NAME
    timeout: float | None = None
    label: str = "primary"

    @classmethod
    def of(cls, settings: Settings) -> PoolShape:
        """The application's pool on the primary."""
        return cls(settings.db_pool_size, settings.db_max_overflow)


def _postgres_connect_args(settings: Settings, raw_url: str, pool: PoolShape) -> dict[str, Any]:
    mode, ca_file = settings.ssl_for(raw_url)
    server_settings = {"application_name": pool.application_name}
    if not settings.db_pgbouncer:
        # PgBouncer refuses this startup parameter (or, told to ignore it, drops it):
        # behind it the timeout is set per transaction instead (`_statement_timeout_setter`).
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    args: dict[str, Any] = {
        "timeout": pool.timeout or settings.db_connect_timeout,
        "server_settings": server_settings,
        "ssl": _ssl_context(mode, str(ca_file) if ca_file else None),
    }
    if pool.timeout is not None:
        args["command_timeout"] = pool.timeout
    if settings.db_pgbouncer:
        # A transaction-pooling proxy hands each transaction another server connection:
        # no statement cache, and unique names for the statements asyncpg must prepare.
        args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _pgbouncer_statement_name,
        }
    return args


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
