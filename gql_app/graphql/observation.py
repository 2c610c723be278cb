"""The operation of a request, told to its record (gql_app/core/observability.py) by every
transport at the same points: the fast path calls these functions, the full path's schema
extension `ObserveOperation` calls them too. Names, type, cost and the error codes only;
never variable values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gql_app.core.errors import PublicError
from gql_app.core.observability import (
    UNEXPECTED,
    current_record,
    end_operation_span,
    start_operation_span,
)
from gql_app.graphql.extensions import INTERNAL_SERVER_ERROR

# Errors graphql-core reports without a code: before execution (parse, validation,
# variable coercion), or at a field (a null in a non-null position).
REQUEST_ERROR = "GRAPHQL_VALIDATION_FAILED"
FIELD_ERROR = "GRAPHQL_ERROR"


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` the client sees for `error`, masked or not yet."""
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return original.code if isinstance(original, PublicError) else INTERNAL_SERVER_ERROR
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    return REQUEST_ERROR if error.path is None else FIELD_ERROR


def outcome_of(errors: Sequence[GraphQLError] | None) -> str:
    """`ok`, the code of the first error, or `unexpected` when any error was unexpected."""
    if not errors:
        return "ok"
    codes = [error_code(error) for error in errors]
    return UNEXPECTED if INTERNAL_SERVER_ERROR in codes else codes[0]


def observe_operation(query: str, name: str | None, operation_type: str) -> None:
    """The request runs the operation `name` (None: anonymous) of `query`; its span starts
    unless it has already (the full path starts it before parsing)."""
    start_operation_span()
    record = current_record()
    if record is not None:
        record.query = query
        record.operation_name = name
        record.operation_type = operation_type


def observe_cost(cost: int) -> None:
    """The operation measured `cost` (gql_app/graphql/cost.py)."""
    record = current_record()
    if record is not None:
        record.cost = cost


def observe_result(errors: Sequence[GraphQLError] | None) -> None:
    """The operation ended with `errors`; so does its span."""
    record = current_record()
    if record is not None:
        record.outcome = outcome_of(errors)
        record.error_codes = [error_code(error) for error in errors] if errors else None
        end_operation_span(record)


class ObserveOperation(SchemaExtension):
    """The full path's calls of `observe_operation` and `observe_result`."""

    def on_operation(self) -> Iterator[None]:
        start_operation_span()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except RuntimeError:  # no document: it did not parse, or it was refused before
            operation_type = "unknown"
        observe_operation(context.query or "", context.operation_name, operation_type)
        result = context.result
        observe_result(result.errors if result is not None else None)
