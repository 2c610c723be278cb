"""Keyset connections: paging forward and backward, edges of the list, limits, bad cursors."""

from typing import Any

import httpx
import pytest

from gql_app.graphql.pagination import encode_cursor
from tests.support.app import AuthUser, MakeComment, MakePost, MakeUser, graphql, graphql_data

POSTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  posts(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


@pytest.fixture
async def alice(make_user: MakeUser) -> AuthUser:
    return await make_user("alice")


@pytest.fixture
async def five_posts(alice: AuthUser, make_post: MakePost) -> None:
    """Posts p1 (oldest) to p5 (newest): the default order lists p5 first."""
    for n in range(1, 6):
        await make_post(alice, f"p{n}", minute=n)


async def _posts(client: httpx.AsyncClient, **arguments: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await graphql_data(client, POSTS, arguments))["posts"]
    return connection


def _titles(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in connection["edges"]]


def _flags(connection: dict[str, Any]) -> tuple[bool, bool]:
    info = connection["pageInfo"]
    return info["hasPreviousPage"], info["hasNextPage"]


@pytest.mark.usefixtures("five_posts")
async def test_paging_forward_visits_every_node_once_in_order(client: httpx.AsyncClient) -> None:
    first = await _posts(client, first=2)
    second = await _posts(client, first=2, after=first["pageInfo"]["endCursor"])
    third = await _posts(client, first=2, after=second["pageInfo"]["endCursor"])
    assert [_titles(first), _titles(second), _titles(third)] == [["p5", "p4"], ["p3", "p2"], ["p1"]]
    assert [_flags(first), _flags(second), _flags(third)] == [
        (False, True),
        (True, True),
        (True, False),
    ]
    assert first["totalCount"] == third["totalCount"] == 5


@pytest.mark.usefixtures("five_posts")
async def test_paging_backward_visits_every_node_once_in_order(client: httpx.AsyncClient) -> None:
    last = await _posts(client, last=2)
    before = await _posts(client, last=2, before=last["pageInfo"]["startCursor"])
    start = await _posts(client, last=2, before=before["pageInfo"]["startCursor"])
    assert [_titles(start), _titles(before), _titles(last)] == [["p5"], ["p4", "p3"], ["p2", "p1"]]
    assert [_flags(start), _flags(before), _flags(last)] == [
        (False, True),
        (True, True),
        (True, False),
    ]


@pytest.mark.usefixtures("five_posts")
async def test_edge_cursors_and_page_cursors_agree(client: httpx.AsyncClient) -> None:
    page = await _posts(client, first=3)
    cursors = [edge["cursor"] for edge in page["edges"]]
    assert page["pageInfo"]["startCursor"] == cursors[0]
    assert page["pageInfo"]["endCursor"] == cursors[-1]
    between = await _posts(client, after=cursors[0], before=cursors[2])
    assert _titles(between) == ["p4"]


@pytest.mark.usefixtures("five_posts")
async def test_a_page_holding_exactly_the_whole_list_has_no_next_page(
    client: httpx.AsyncClient,
) -> None:
    page = await _posts(client, first=5)
    assert (_titles(page), _flags(page)) == (["p5", "p4", "p3", "p2", "p1"], (False, False))


@pytest.mark.usefixtures("five_posts")
async def test_after_the_last_node_the_page_is_empty(client: httpx.AsyncClient) -> None:
    whole = await _posts(client, first=5)
    after = await _posts(client, first=5, after=whole["pageInfo"]["endCursor"])
    assert after["edges"] == []
    assert after["pageInfo"]["startCursor"] is None
    assert after["pageInfo"]["endCursor"] is None
    assert _flags(after) == (True, False)


async def test_an_empty_list_is_an_empty_page(client: httpx.AsyncClient) -> None:
    page = await _posts(client, first=10)
    assert page == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_without_first_or_last_a_page_holds_20_nodes(
    client: httpx.AsyncClient, alice: AuthUser, make_post: MakePost
) -> None:
    for n in range(21):
        await make_post(alice, f"p{n}", minute=n)
    page = await _posts(client)
    assert (len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (20, True)


@pytest.mark.usefixtures("five_posts")
async def test_first_zero_is_an_empty_page_that_knows_more_follow(
    client: httpx.AsyncClient,
) -> None:
    page = await _posts(client, first=0)
    assert (page["edges"], _flags(page)) == ([], (False, True))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 101}, "`first` must be between 0 and 100 (got 101)"),
        ({"last": 1000}, "`last` must be between 0 and 100 (got 1000)"),
        ({"first": -1}, "`first` must be between 0 and 100 (got -1)"),
        ({"first": 1, "last": 1}, "pass either `first` or `last`, not both"),
    ],
)
async def test_page_sizes_beyond_the_limits_are_refused(
    client: httpx.AsyncClient, arguments: dict[str, int], message: str
) -> None:
    body = await graphql(client, POSTS, arguments)
    assert body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (message, "BAD_USER_INPUT")
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "' OR 1=1 --",
        encode_cursor("posts:oldest", ("2025-01-01T00:00:00+00:00", 1)),
        encode_cursor("users:username", ("alice", 1)),
        encode_cursor("posts:newest", ("not a time", 1)),
        encode_cursor("posts:newest", ("2025-01-01T00:00:00+00:00", 2**63)),
        encode_cursor("posts:newest", ("2025-01-01T00:00:00+00:00", -(2**63) - 1)),
        encode_cursor("posts:newest", ("9999-12-31T23:59:59-14:00", 1)),
        encode_cursor("posts:newest", ("0001-01-01T00:00:00+14:00", 1)),
    ],
)
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_an_invalid_or_foreign_cursor_is_bad_user_input(
    client: httpx.AsyncClient, cursor: str, argument: str
) -> None:
    body = await graphql(client, POSTS, {argument: cursor})
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("invalid cursor")


async def test_a_cursor_with_a_lone_surrogate_is_bad_user_input(client: httpx.AsyncClient) -> None:
    cursor = encode_cursor("users:username", ("\ud800", 1))
    body = await graphql(
        client, "query($a: String) { users(after: $a) { totalCount } }", {"a": cursor}
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("invalid cursor")


async def test_nested_connections_page_each_parent_on_its_own(
    client: httpx.AsyncClient, alice: AuthUser, make_user: MakeUser, make_post: MakePost
) -> None:
    bob = await make_user("bob")
    for n in range(3):
        await make_post(alice, f"a{n}", minute=n)
        await make_post(bob, f"b{n}", minute=10 + n)
    query = """query($after: String) { users { edges { node { username
      posts(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { title } } } } } } }"""
    users = (await graphql_data(client, query))["users"]["edges"]
    pages = {user["node"]["username"]: user["node"]["posts"] for user in users}
    assert {name: _titles(page) for name, page in pages.items()} == {
        "alice": ["a2", "a1"],
        "bob": ["b2", "b1"],
    }
    assert all(
        page["pageInfo"]["hasNextPage"] and page["totalCount"] == 3 for page in pages.values()
    )
    after_alices = await graphql_data(
        client, query, {"after": pages["alice"]["pageInfo"]["endCursor"]}
    )
    rest = {
        u["node"]["username"]: _titles(u["node"]["posts"]) for u in after_alices["users"]["edges"]
    }
    # the cursor is a position in time: bob's posts are all newer than alice's second
    assert rest == {"alice": ["a0"], "bob": []}


async def test_nested_comments_page_backward_oldest_first(
    client: httpx.AsyncClient, alice: AuthUser, make_post: MakePost, make_comment: MakeComment
) -> None:
    post_id = await make_post(alice)
    for n in range(4):
        await make_comment(alice, post_id, f"c{n}", minute=n)
    query = """query($id: ID!) { post(id: $id) { comments(last: 3) {
      pageInfo { hasPreviousPage hasNextPage } edges { node { body } } } } }"""
    comments = (await graphql_data(client, query, {"id": post_id}))["post"]["comments"]
    assert [edge["node"]["body"] for edge in comments["edges"]] == ["c1", "c2", "c3"]
    assert _flags(comments) == (True, False)


async def test_a_users_comments_are_listed_newest_first(
    client: httpx.AsyncClient, alice: AuthUser, make_post: MakePost, make_comment: MakeComment
) -> None:
    post_id = await make_post(alice)
    for n in range(3):
        await make_comment(alice, post_id, f"c{n}", minute=n)
    query = """query($id: ID!) { user(id: $id) { comments(first: 2) { totalCount
      edges { node { body post { id } } } } } }"""
    comments = (await graphql_data(client, query, {"id": alice.id}))["user"]["comments"]
    assert comments["totalCount"] == 3
    assert [edge["node"]["body"] for edge in comments["edges"]] == ["c2", "c1"]
    assert {edge["node"]["post"]["id"] for edge in comments["edges"]} == {post_id}


async def test_a_nested_connection_refuses_a_bad_cursor(
    client: httpx.AsyncClient, alice: AuthUser
) -> None:
    query = """query($id: ID!) { user(id: $id) { username posts(after: "nope") { totalCount } } }"""
    body = await graphql(client, query, {"id": alice.id})
    assert body["data"] == {"user": None}
    assert body["errors"][0]["path"] == ["user", "posts"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
