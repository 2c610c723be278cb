"""`MeasureMemo` (gql_app/graphql/cost.py): the fast path's remembered query measures equal
measuring anew, whatever the variables."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, get_operation_ast, parse

from gql_app.graphql import cost
from gql_app.graphql.cost import Measure, MeasureMemo, document_context, measure_operation
from gql_app.graphql.schema import build_schema

MEMO_CASES = [
    ("query($n: Int) { users(first: $n) { edges { node { username } } } }", [{"n": 2}, {"n": 5}]),
    ("query($n: Int) { users(first: $n) { totalCount } }", [{"n": 3}, {}, {"n": None}, {"n": 3}]),
    ("query($n: Int) { users(first: $n) { totalCount } }", [{"n": 1}, {"n": True}, {"n": 1.0}]),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", [{"ids": ["a"]}, {"ids": ["a", "b"]}]),
    (
        "query($id: ID!, $n: Int) { user(id: $id) { posts(first: $n) { totalCount } } }",
        [{"id": "a", "n": 4}, {"id": "b", "n": 4}, {"id": "b", "n": 6}],
    ),
    (
        "query($n: Int) { ...F } fragment F on Query { posts(last: $n) { totalCount } }",
        [{"n": 7}, {"n": 8}],
    ),
]


@pytest.mark.parametrize(("query", "requests"), MEMO_CASES)
def test_remembered_measures_equal_measuring_anew_for_each_request(
    query: str, requests: list[dict[str, Any]]
) -> None:
    schema = build_schema()._schema
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    memo = MeasureMemo(size=8)
    for variables in requests:
        anew = measure_operation(schema, document_context(document), operation, variables, 20)
        assert memo.measure(schema, query, document, operation, variables, 20) == anew


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
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    memo = MeasureMemo(size=8)
    schema = build_schema()._schema
    measures = {memo.measure(schema, query, document, operation, {"id": i}, 20) for i in "abc"}
    assert measures == {Measure(cost=2, depth=2, aliases=0)}
    assert len(measured) == 1
