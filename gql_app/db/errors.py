"""Database errors: constraint violations, stale statements, what clients and operators are told."""

from __future__ import annotations

import re
import socket
import ssl

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from gql_app.core.errors import DatabaseBusy, DatabaseUnavailable, PublicError, QueryTimeout


class ConnectionLostError(Exception):
    """The connection to the database broke during a read on the driver (`_DriverReads`)."""


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


def violated_foreign_key(exc: IntegrityError) -> str | None:
    """The name of the foreign key `exc` violated when the database says (PostgreSQL does);
    None when it does not (SQLite names none)."""
    name = getattr(exc.orig.__cause__ if exc.orig else None, "constraint_name", None)
    return name if isinstance(name, str) and foreign_key_violation(exc) else None


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
