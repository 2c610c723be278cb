"""`MeasureMemo` (gql_app/graphql/cost.py): the fast path's remembered query measures equal
measuring anew, whatever the variables."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import DocumentNode, OperationDefinitionNode, get_operation_ast, parse

from gql_app.core.config import load_settings
from gql_app.graphql import cost
from gql_app.graphql.cost import Measure, MeasureMemo, document_context, measure_operation
from gql_app.graphql.limits import query_limits
from gql_app.graphql.schema import build_schema

LIMITS = query_limits(load_settings())

MEMO_CASES = [
    ("query($n: Int) { users(first: $n) { edges { node { username } } } }", [{"n": 2}, {"n": 5}]),
    ("query($n: Int) { users(first: $n) { totalCount } }", [{"n": 3}, {}, {"n": None}, {"n": 3}]),
    ("query($n: Int) { users(first: $n) { totalCount } }", [{"n": 1}, {"n": True}, {"n": 1.0}]),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", [{"ids": ["a"]}, {"ids": ["a", "b"]}]),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", [{"ids": "a"}, {"ids": ["a", "a"]}]),
    (
        "query($f: PostFilter) { posts(filter: $f) { totalCount } }",
        [{"f": {"search": "a"}}, {"f": None}, {"f": {"search": "b"}}],
    ),
    (
        "query($id: ID!, $n: Int) { user(id: $id) { posts(first: $n) { totalCount } } }",
        [{"id": "a", "n": 4}, {"id": "b", "n": 4}, {"id": "b", "n": 6}],
    ),
    (
        "query($n: Int) { ...F } fragment F on Query { posts(last: $n) { totalCount } }",
        [{"n": 7}, {"n": 8}],
    ),
]


def parsed(query: str) -> tuple[DocumentNode, OperationDefinitionNode]:
    """The document of `query` and its one operation."""
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    return document, operation


@pytest.mark.parametrize(("query", "requests"), MEMO_CASES)
def test_remembered_measures_equal_measuring_anew_for_each_request(
    query: str, requests: list[dict[str, Any]]
) -> None:
    schema = build_schema()._schema
    document, operation = parsed(query)
    memo = MeasureMemo(size=8)
    for variables in requests:
        anew = measure_operation(schema, document_context(document), operation, variables, LIMITS)
        assert memo.measure(schema, query, document, operation, variables, LIMITS) == anew


def test_a_query_is_measured_once_when_no_variable_changes_its_measure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured: list[OperationDefinitionNode] = []
    operation_of = cost._Measurer.operation

    def counted(self: Any, operation: OperationDefinitionNode) -> Measure:
        measured.append(operation)
        return operation_of(self, operation)

    monkeypatch.setattr(cost._Measurer, "operation", counted)
    query = "query($id: ID!) { user(id: $id) { username } }"
    document, operation = parsed(query)
    memo = MeasureMemo(size=8)
    schema = build_schema()._schema
    measures = {memo.measure(schema, query, document, operation, {"id": i}, LIMITS) for i in "abc"}
    assert measures == {Measure(cost=2, depth=2, aliases=0)}
    assert len(measured) == 1


def test_a_remembered_measure_that_reads_no_variable_coerces_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coerced: list[object] = []
    coerce = cost.coerce_variables

    def counted(*arguments: Any) -> Any:
        coerced.append(arguments)
        return coerce(*arguments)

    monkeypatch.setattr(cost, "coerce_variables", counted)
    query = "query($id: ID!) { user(id: $id) { username } }"
    document, operation = parsed(query)
    memo = MeasureMemo(size=8)
    schema = build_schema()._schema
    for key in "abc":
        memo.measure(schema, query, document, operation, {"id": key}, LIMITS)
    assert len(coerced) == 1


def test_a_float_page_size_shares_the_measure_of_the_int_it_coerces_to() -> None:
    query = "query($n: Int) { users(first: $n) { edges { node { username } } } }"
    document, operation = parsed(query)
    memo = MeasureMemo(size=8)
    schema = build_schema()._schema
    as_int = memo.measure(schema, query, document, operation, {"n": 100}, LIMITS)
    assert memo.measure(schema, query, document, operation, {"n": 100.0}, LIMITS) == as_int
    assert as_int.cost == 1 + 100 * (1 + 1 + 1)
