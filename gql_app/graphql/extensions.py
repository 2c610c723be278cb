"""Error masking (DESIGN.md contract 6): expected errors keep their message, the rest do not.

A `PublicError` reaches the client as raised, with its `code` in `extensions.code`. Errors
graphql-core reports itself (parse, validation, variable coercion) stay as they are.
Anything else is unexpected: the client sees only a generic message with the request id,
and the log gets the traceback under that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from gql_app.core.errors import PublicError

logger = logging.getLogger("gql_app.graphql")
# Strawberry's errors for a request that names no operation it may run (a query sent as a
# multipart subscription): the client's mistake, its message written for the client.
_REQUEST_ERRORS = (CannotGetOperationTypeError, InvalidOperationTypeError)
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class MaskUnexpectedErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        self._mask(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription (or an operation over a socket), before it is sent."""
        self._mask(result)
        yield

    def _mask(self, result: Any) -> None:
        if result is not None and getattr(result, "errors", None):
            request_id = getattr(self.execution_context.context, "request_id", "none")
            result.errors = [public_error(error, request_id) for error in result.errors]


def public_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """What the client may see of `error`; an unexpected one is logged under `request_id`."""
    original = error.original_error
    if original is None or isinstance(original, (GraphQLError, *_REQUEST_ERRORS)):
        return error
    if isinstance(original, PublicError):
        error.extensions = {**(error.extensions or {}), "code": original.code}
        return error
    where = ".".join(map(str, error.path or ())) or "operation"
    logger.error(
        "unexpected error at %s (request id: %s)",
        where,
        request_id,
        exc_info=original,
        extra={"request_id": request_id},
    )
    return GraphQLError(
        f"Internal server error (request id: {request_id})",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": INTERNAL_SERVER_ERROR},
    )
