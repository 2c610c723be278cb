"""A nested connection reads the optional columns its nodes select (graphql/projection.py)."""

from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLString,
    OperationDefinitionNode,
    parse,
)

from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from gql_app.graphql import query
from gql_app.graphql.ids import encode_global_id
from gql_app.graphql.projection import (
    UNFETCHED,
    ColumnNotReadError,
    node_columns,
    object_columns,
)
from gql_app.graphql.types import Post


def _first_field(node: FieldNode | OperationDefinitionNode) -> FieldNode:
    assert node.selection_set is not None
    field = node.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    return field


def _raw_info(field: FieldNode, document: str) -> SimpleNamespace:
    parsed = parse(document)
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return SimpleNamespace(_raw_info=SimpleNamespace(field_nodes=[field], fragments=fragments))


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


@pytest.mark.parametrize(
    ("selection", "columns"),
    [
        ("{ username }", frozenset()),
        ("{ ... on User { email } ... on Post { body } }", frozenset(("email", "body"))),
        ("{ id ...Mail }", frozenset(("email",))),
        ("{ posts { edges { node { body updatedAt } } } }", frozenset()),  # its posts' own
    ],
)
def test_the_columns_an_object_reads_are_those_it_selects(
    selection: str, columns: frozenset[str]
) -> None:
    document = "query { node(id: 1) " + selection + " } fragment Mail on User { email }"
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert object_columns(_raw_info(_first_field(operation), document)) == columns


def test_an_object_of_a_row_without_a_column_holds_what_no_scalar_serializes() -> None:
    now = datetime.now(UTC)
    post = Post.from_row((1, 2, "title", None, now, None))
    assert post.body is UNFETCHED
    assert post.updated_at is UNFETCHED
    with pytest.raises(ColumnNotReadError):
        GraphQLString.coerce_output_value(post.body)


LOOKUPS = """
query($user: ID!, $post: ID!) {
  lean: user(id: $user) { username }
  full: node(id: $post) { ... on Post { title body updatedAt } }
  post(id: $post) { title author { username } }
  posts(first: 2) { edges { node { title body } } }
}"""


async def test_lookups_and_root_lists_answer_the_optional_fields_they_select(
    db: RequestSession, client: httpx.AsyncClient
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=2, posts_per_user=1, comments_per_post=0)
    variables = {"user": encode_global_id("User", 1), "post": encode_global_id("Post", 1)}
    answer = (await client.post("/graphql", json={"query": LOOKUPS, "variables": variables})).json()
    assert "errors" not in answer
    data = answer["data"]
    assert data["lean"]["username"]
    assert data["full"]["body"]
    assert data["full"]["updatedAt"]
    assert data["post"]["title"] == data["full"]["title"]
    assert all(edge["node"]["body"] for edge in data["posts"]["edges"])


async def test_a_field_whose_column_was_not_read_is_an_error_not_a_null(
    db: RequestSession, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a projection wrong, the response would say so: this is what it would say."""
    async with db.transaction(write=True) as session:
        await seed(session, users=1, posts_per_user=1, comments_per_post=0)
    monkeypatch.setattr(query, "object_columns", lambda _info: frozenset())
    document = "query($id: ID!) { post(id: $id) { title body } }"
    variables = {"id": encode_global_id("Post", 1)}
    body = {"query": document, "variables": variables}
    answer = (await client.post("/graphql", json=body)).json()
    assert answer["data"] == {"post": None}
    assert [error["path"] for error in answer["errors"]] == [["post", "body"]]
