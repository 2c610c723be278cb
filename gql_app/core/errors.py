"""Errors a client may see: each has a stable `code` for `extensions.code` (DESIGN.md contract 6).

Anything raised during a request that is not a `PublicError` is unexpected: it is masked to
a generic message carrying the request id and logged in full server-side.
"""

from __future__ import annotations

import orjson


def error_body(message: str, code: str) -> bytes:
    """The JSON body of a response refused before GraphQL runs: a GraphQL error, coded."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


class PublicError(Exception):
    """An expected failure whose message and code are safe to show to the client."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadUserInput(PublicError):
    """An argument the client sent is invalid (a malformed id or cursor, a limit exceeded)."""

    code = "BAD_USER_INPUT"


class DatabaseBusy(PublicError):
    """No database connection came free within `DB_POOL_TIMEOUT`: retry shortly."""

    code = "DATABASE_BUSY"


class DatabaseUnavailable(PublicError):
    """The database cannot be reached, or it is shutting down or starting: retry later."""

    code = "DATABASE_UNAVAILABLE"


class QueryTimeout(PublicError):
    """A statement ran past `DB_STATEMENT_TIMEOUT_MS` and was cancelled; nothing was written."""

    code = "QUERY_TIMEOUT"


# The codes of errors answered before execution (and the transports' own refusals).
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = BadUserInput.code
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
