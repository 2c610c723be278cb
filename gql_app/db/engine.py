"""The engine per dialect: pool, timeouts, logging filters and the listeners of each dialect."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

from gql_app.core.config import Settings
from gql_app.core.observability import count_executed_statement
from gql_app.db.options import AUTOCOMMIT_READS_OPTION, _refuse_writes_in_reads
from gql_app.db.pool import MeteredPool, metered_pool
from gql_app.db.postgresql import (
    PoolShape,
    _ping_outside_a_transaction,
    _ping_when_idle,
    _postgres_connect_args,
    _statement_timeout_setter,
)
from gql_app.db.sqlite import _set_sqlite_pragmas, _sqlite_begin


class _DropDebugRecords(logging.Filter):
    """Drops DEBUG records: those of these loggers carry values, not just statements."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# SQLAlchemy logs result rows at DEBUG, aiosqlite each call with its bound parameters:
# password and token hashes must not reach a log, whatever its levels (DESIGN.md contract 7).
_VALUE_LOGGERS = ("sqlalchemy.engine.Engine", "aiosqlite")


_DROP_DEBUG_RECORDS = _DropDebugRecords()


def create_engine(
    settings: Settings,
    *,
    url: URL | None = None,
    raw_url: str | None = None,
    pooled: bool = True,
    shape: PoolShape | None = None,
) -> AsyncEngine:
    """The engine for `url` (default: the application's), configured for its dialect.

    `pooled=False` gives a connection per use, for one-shot commands such as migrations;
    `shape` shapes a PostgreSQL pool other than the application's (a replica's).
    """
    url = url if url is not None else settings.url
    raw_url = raw_url if raw_url is not None else settings.database_url
    shape = shape if shape is not None else PoolShape.of(settings)
    # Bound parameters carry passwords, hashes and tokens: never in logs or error messages.
    options: dict[str, Any] = {
        "echo": settings.db_echo,
        "pool_pre_ping": True,
        "hide_parameters": True,
    }
    if not pooled:
        options["poolclass"] = pool.NullPool
    elif settings.metrics_port is not None:
        options["poolclass"] = metered_pool(shape.label)
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = _postgres_connect_args(settings, raw_url, shape)
        if not settings.db_pgbouncer:  # behind it, the statement timeout needs a transaction
            options["execution_options"] = {AUTOCOMMIT_READS_OPTION: True}
        if pooled:
            options |= {
                "pool_size": shape.size,
                "max_overflow": shape.overflow,
                "pool_timeout": settings.db_pool_timeout,
                "pool_recycle": settings.db_pool_recycle,
                "pool_use_lifo": True,
            }
    engine = sa_create_async_engine(url, **options)
    event.listen(engine.sync_engine, "before_cursor_execute", count_executed_statement, retval=True)
    if isinstance(engine.sync_engine.pool, MeteredPool):
        event.listen(engine.sync_engine.pool, "invalidate", engine.sync_engine.pool.count_reconnect)
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
