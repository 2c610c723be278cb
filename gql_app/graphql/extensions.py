"""Error masking (DESIGN.md contract 6): expected errors keep their message, the rest do not.

A `PublicError` reaches the client as raised, with its `code` in `extensions.code`. Errors
graphql-core reports itself (parse, validation, variable coercion) keep their message and get
the code of their phase (`PreExecutionCodes`). Anything else is unexpected: the client sees
only a generic message with the request id, and the log gets the traceback under that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from gql_app.core.errors import (
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    OPERATION_RESOLUTION_FAILURE,
    PublicError,
)

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


def with_code(errors: list[GraphQLError] | None, code: str) -> None:
    """Give `code` to each of `errors` that has none (the query limits' own codes stay)."""
    for error in errors or ():
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}


def operation_resolution_error(operations: list[str | None], name: str | None) -> str | None:
    """Why no operation of a document with `operations` (their names) can run by `name`."""
    if name is not None:
        return None if name in operations else f"Unknown operation named '{name}'."
    if len(operations) == 1:
        return None
    if not operations:
        return "The document has no operation to run."
    return "The document has several operations: name the one to run in `operationName`."


class PreExecutionCodes(SchemaExtension):
    """An `extensions.code` on every error answered before execution: GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT (variables that do not coerce) and
    OPERATION_RESOLUTION_FAILURE (an unknown `operationName`, or none for a document of
    several operations: the specification's request error, where Strawberry runs the first).
    """

    def on_operation(self) -> Iterator[None]:
        # Before parsing the context has no document: this is the name the request gave.
        self.requested_name = self.execution_context.operation_name
        try:
            yield
        except GraphQLSyntaxError as error:  # raised by the parser cache's hook
            with_code([error], GRAPHQL_PARSE_FAILED)
            raise

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        with_code(context.pre_execution_errors, GRAPHQL_PARSE_FAILED)
        document = context.graphql_document
        if document is None:
            return
        names = [
            definition.name.value if definition.name else None
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        ]
        reason = operation_resolution_error(names, self.requested_name)
        if reason is not None:
            raise GraphQLError(reason, extensions={"code": OPERATION_RESOLUTION_FAILURE})

    def on_validate(self) -> Iterator[None]:
        yield
        with_code(self.execution_context.pre_execution_errors, GRAPHQL_VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        # Execution that never began (graphql-core coerces the variables first) has no data
        # and no error at a field's path; one stopped on the way keeps its own code.
        if (
            result is not None
            and result.data is None
            and result.errors
            and all(error.path is None for error in result.errors)
        ):
            with_code(result.errors, BAD_USER_INPUT)


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
