"""A nested connection reads the optional columns its nodes select (graphql/projection.py)."""

from types import SimpleNamespace

import httpx
import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from gql_app.graphql.projection import node_columns


def _first_field(node: FieldNode | OperationDefinitionNode) -> FieldNode:
    assert node.selection_set is not None
    field = node.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    return field


def _columns(document: str) -> frozenset[str] | None:
    """What `node_columns` decides for `users.edges.node.posts` of `document`."""
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    connection = _first_field(_first_field(_first_field(_first_field(operation))))
    raw = SimpleNamespace(field_nodes=[connection], fragments=fragments)
    return node_columns(SimpleNamespace(_raw_info=raw))


@pytest.mark.parametrize(
    ("nodes", "columns"),
    [
        ("{ id title }", frozenset()),
        ("{ title comments { edges { node { body } } } }", frozenset()),
        ("{ body updatedAt }", frozenset(("body", "updated_at"))),
        ("{ ... on Post { body } }", frozenset(("body",))),
        ("{ ...Bodies }", frozenset(("body",))),
        ("{ title @skip(if: true) body @include(if: false) }", frozenset(("body",))),
    ],
)
def test_the_columns_read_are_those_the_nodes_select(nodes: str, columns: frozenset[str]) -> None:
    document = (
        "query { users { edges { node { posts { edges { node " + nodes + " } } } } } }"
        " fragment Bodies on Post { body }"
    )
    assert _columns(document) == columns


def test_a_fragment_not_in_the_document_reads_every_column() -> None:
    document = "query { users { edges { node { posts { edges { node { ...Missing } } } } } } }"
    assert _columns(document) is None


NESTED = """
query {
  users(first: 2) { edges { node {
    lean: posts(first: 2) { edges { node { title } } }
    full: posts(first: 2) { edges { node { title body updatedAt } } }
  } } }
}"""


async def test_one_request_reading_a_relation_with_and_without_bodies_answers_both(
    db: RequestSession, client: httpx.AsyncClient
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=2, comments_per_post=0)
    answer = (await client.post("/graphql", json={"query": NESTED})).json()
    assert "errors" not in answer
    for edge in answer["data"]["users"]["edges"]:
        lean, full = edge["node"]["lean"]["edges"], edge["node"]["full"]["edges"]
        assert [e["node"]["title"] for e in lean] == [e["node"]["title"] for e in full]
        assert all(e["node"]["body"] and e["node"]["updatedAt"] for e in full)
        assert len(full) == 2
