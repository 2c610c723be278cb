"""Error masking (DESIGN.md contract 6): expected errors keep their message, the rest do not.

A `PublicError` reaches the client as raised, with its `code` in `extensions.code`. Errors
graphql-core reports itself (parse, validation, variable coercion) stay as they are.
Anything else is unexpected: the client sees only a generic message with the request id,
and the log gets the traceback under that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gql_app.core.errors import PublicError

logger = logging.getLogger("gql_app.graphql")
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class MaskUnexpectedErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            request_id = getattr(self.execution_context.context, "request_id", "none")
            result.errors = [public_error(error, request_id) for error in result.errors]


def public_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """What the client may see of `error`; an unexpected one is logged under `request_id`."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
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
