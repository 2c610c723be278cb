"""Looking things up: the viewer, users, posts and any node by global id."""

import httpx

from gql_app.graphql.ids import encode_global_id
from tests.support.app import MakeComment, MakePost, MakeUser, bearer_headers, graphql, graphql_data

USER = "query($id: ID!) { user(id: $id) { id username email createdAt postCount } }"
NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on User { username } ... on Post { title } ... on Comment { body } } }"""


def _error_codes(body: dict[str, object]) -> list[object]:
    errors = body.get("errors")
    assert isinstance(errors, list), body
    return [error["extensions"]["code"] for error in errors]


async def test_me_is_the_user_of_the_bearer_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    data = await graphql_data(client, "{ me { id username } }", headers=alice.headers)
    assert data["me"] == {"id": alice.id, "username": "alice"}


async def test_me_is_null_without_a_token(client: httpx.AsyncClient) -> None:
    assert await graphql_data(client, "{ me { id } }") == {"me": None}


async def test_me_is_null_with_an_unknown_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user("alice")
    data = await graphql_data(client, "{ me { id } }", headers=bearer_headers("forged"))
    assert data == {"me": None}


async def test_user_by_id(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    alice = await make_user("alice")
    user = (await graphql_data(client, USER, {"id": alice.id}))["user"]
    assert (user["id"], user["username"], user["postCount"]) == (alice.id, "alice", 0)
    assert user["createdAt"].endswith("+00:00")


async def test_a_missing_user_is_null(client: httpx.AsyncClient) -> None:
    data = await graphql_data(client, USER, {"id": encode_global_id("User", 999)})
    assert data == {"user": None}


async def test_a_malformed_id_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await graphql(client, USER, {"id": "' OR 1=1 --"})
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"user": None}


async def test_the_id_of_another_type_is_bad_user_input(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    post_id = await make_post(await make_user("alice"))
    body = await graphql(client, USER, {"id": post_id})
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert "not the id of a User" in body["errors"][0]["message"]


async def test_email_is_visible_only_to_the_user_themself(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    as_alice = await graphql_data(client, USER, {"id": alice.id}, headers=alice.headers)
    as_bob = await graphql_data(client, USER, {"id": alice.id}, headers=bob.headers)
    anonymous = await graphql_data(client, USER, {"id": alice.id})
    assert as_alice["user"]["email"] == "alice@example.com"
    assert as_bob["user"]["email"] is None
    assert anonymous["user"]["email"] is None


async def test_user_by_username_matches_exactly(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    query = "query($name: String!) { userByUsername(username: $name) { id } }"
    assert (await graphql_data(client, query, {"name": "alice"}))["userByUsername"] == {
        "id": alice.id
    }
    for other in ("ALICE", "ali%", "' OR 1=1 --", "'; DROP TABLE users; --"):
        assert (await graphql_data(client, query, {"name": other}))["userByUsername"] is None


async def test_post_with_its_author_and_comments(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, make_comment: MakeComment
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    post_id = await make_post(alice, "Title", "Body")
    comment_id = await make_comment(bob, post_id, "Nice")
    query = """query($id: ID!) { post(id: $id) { id title body createdAt updatedAt
      author { username } commentCount
      comments { edges { node { id body author { username } post { id } } } } } }"""
    post = (await graphql_data(client, query, {"id": post_id}))["post"]
    assert (post["title"], post["body"], post["author"]) == ("Title", "Body", {"username": "alice"})
    assert post["createdAt"] == post["updatedAt"] == "2025-01-01T00:00:00+00:00"
    assert post["commentCount"] == 1
    assert post["comments"]["edges"] == [
        {
            "node": {
                "id": comment_id,
                "body": "Nice",
                "author": {"username": "bob"},
                "post": {"id": post_id},
            }
        }
    ]


async def test_node_fetches_users_posts_and_comments_by_global_id(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, make_comment: MakeComment
) -> None:
    alice = await make_user("alice")
    post_id = await make_post(alice, "Title")
    comment_id = await make_comment(alice, post_id, "Words")
    found = [
        (await graphql_data(client, NODE, {"id": id_}))["node"]
        for id_ in (alice.id, post_id, comment_id)
    ]
    assert found == [
        {"__typename": "User", "id": alice.id, "username": "alice"},
        {"__typename": "Post", "id": post_id, "title": "Title"},
        {"__typename": "Comment", "id": comment_id, "body": "Words"},
    ]


async def test_node_of_a_missing_row_is_null(client: httpx.AsyncClient) -> None:
    data = await graphql_data(client, NODE, {"id": encode_global_id("Comment", 12345)})
    assert data == {"node": None}


async def test_node_of_an_unknown_type_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await graphql(client, NODE, {"id": encode_global_id("Secret", 1)})
    assert _error_codes(body) == ["BAD_USER_INPUT"]


async def test_nodes_answers_in_the_order_asked_with_null_for_missing(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    alice = await make_user("alice")
    post_id = await make_post(alice)
    missing = encode_global_id("Post", 999)
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    data = await graphql_data(client, query, {"ids": [post_id, missing, alice.id]})
    assert data["nodes"] == [{"id": post_id}, None, {"id": alice.id}]


async def test_nodes_takes_at_most_100_ids(client: httpx.AsyncClient) -> None:
    ids = [encode_global_id("Post", n) for n in range(1, 102)]
    body = await graphql(client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert "at most 100 ids" in body["errors"][0]["message"]


async def test_an_unpadded_spelling_of_a_post_id_is_bad_user_input(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    alice = await make_user("alice")
    post_ids = [await make_post(alice) for _ in range(10)]
    post_id = post_ids[-1]  # "Post:10": its encoding is padded
    assert post_id.endswith("=")
    body = await graphql(client, NODE, {"id": post_id.rstrip("=")})
    assert _error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"node": None}
