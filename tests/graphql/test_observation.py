"""The outcome a request's record, log lines, metrics and span get from its errors
(gql_app/graphql/observation.py): the code the client sees, masked or not yet."""

from __future__ import annotations

from graphql import GraphQLError

from gql_app.core.errors import DatabaseBusy
from gql_app.graphql.extensions import public_error
from gql_app.graphql.observation import outcome_of


def _raised(original: Exception, path: list[str | int] | None = None) -> GraphQLError:
    return GraphQLError(str(original), path=path, original_error=original)


def test_no_error_is_ok() -> None:
    assert outcome_of(None) == outcome_of([]) == "ok"


def test_an_expected_error_is_its_code_before_and_after_masking() -> None:
    error = _raised(DatabaseBusy("busy"), ["users"])
    assert outcome_of([error]) == "DATABASE_BUSY"
    assert outcome_of([public_error(error, "r-1")]) == "DATABASE_BUSY"


def test_any_unexpected_error_makes_the_outcome_unexpected_before_and_after_masking() -> None:
    errors = [_raised(DatabaseBusy("busy"), ["a"]), _raised(RuntimeError("bug"), ["b"])]
    assert outcome_of(errors) == "unexpected"
    masked = [public_error(error, "r-2") for error in errors]
    assert outcome_of(masked) == "unexpected"


def test_graphql_cores_errors_without_a_code_are_named_for_where_they_happened() -> None:
    assert outcome_of([GraphQLError("Syntax Error")]) == "GRAPHQL_VALIDATION_FAILED"
    assert outcome_of([GraphQLError("Cannot return null", path=["me"])]) == "GRAPHQL_ERROR"
