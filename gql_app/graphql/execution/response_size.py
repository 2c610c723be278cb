"""A bound of the bytes one response holds (`MAX_RESPONSE_BYTES`), counted while it is built.

Every leaf value is counted as it is completed, by compiled execution and by stock
graphql-core execution alike, against an upper bound of its size in the JSON response: a
short string 6 bytes a character (the longest a character is written: `\\u001f`) plus its
quotes, a longer one its exact encoded length (written once more, cheap beside the rest),
a number or boolean 24 (the longest a 64-bit float is written). The first leaf over the
limit stops execution: the response is `data: null` and one `RESPONSE_TOO_LARGE` error.
Names and punctuation are not counted: the cost bounds the fields, the document their names.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError, GraphQLLeafType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
_SHORT = 64  # characters: a string shorter than this is bounded, not encoded
_NUMBER = 24


def json_size(value: Any) -> int:
    """An upper bound of the bytes `value`, a completed leaf, takes in the JSON response."""
    kind = type(value)
    if kind is str:
        length = len(value)
        return 6 * length + 2 if length < _SHORT else len(orjson.dumps(value))
    if kind is int or kind is float or kind is bool:
        return _NUMBER
    return len(orjson.dumps(value, default=str))


class ResponseTooLarge(Exception):
    """The response being built has passed `MAX_RESPONSE_BYTES`."""


class ResponseBudget:
    """The bytes a response may still hold."""

    __slots__ = ("limit", "remaining")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit

    def spend(self, value: Any) -> None:
        """Count a leaf; raises `ResponseTooLarge` once the response is over the limit."""
        # A short string, most leaves, bounded here: this runs for every leaf of a response.
        if type(value) is str and len(value) < _SHORT:
            self.remaining -= 6 * len(value) + 2
        else:
            self.remaining -= json_size(value)
        if self.remaining < 0:
            raise ResponseTooLarge

    def reset(self) -> None:
        """Nothing counted: execution starts over."""
        self.remaining = self.limit

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def result(self) -> ExecutionResult:
        """The response of an operation whose data passed the limit."""
        error = GraphQLError(
            f"The response is larger than the limit MAX_RESPONSE_BYTES={self.limit} bytes.",
            extensions={"code": RESPONSE_TOO_LARGE},
        )
        return ExecutionResult(None, [error])


def response_budget(context: Any) -> ResponseBudget | None:
    """The budget of the operation of `context` (the app's `Context`); None for another
    context (the schema executed directly)."""
    budget: ResponseBudget | None = getattr(context, "response_budget", None)
    return budget


def stopped_execution(error: GraphQLError) -> bool:
    """`error` ended an execution that had begun (the response keeps `data: null`), though
    it is at no field's path."""
    return (error.extensions or {}).get("code") == RESPONSE_TOO_LARGE


class BoundedExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (graphql-core's), counting each leaf against the operation's
    budget."""

    def complete_leaf_value(self, return_type: GraphQLLeafType, result: Any) -> Any:  # type: ignore[override]
        completed = super().complete_leaf_value(return_type, result)
        budget = response_budget(self.context_value)
        if budget is not None:
            budget.spend(completed)
        return completed

    def build_response(self, data: dict[str, Any] | None) -> Any:
        budget = response_budget(self.context_value)
        if budget is not None and budget.exceeded:
            self.run_async_work_finished_hook()
            return budget.result()
        return super().build_response(data)


__all__ = [
    "BoundedExecutor",
    "ResponseBudget",
    "ResponseTooLarge",
    "json_size",
    "response_budget",
    "stopped_execution",
]
