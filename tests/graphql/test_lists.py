"""The user and post lists: orders and filters (bound parameters, matched literally)."""

from typing import Any

import httpx
import pytest

from gql_app.graphql.ids import encode_global_id
from tests.support.app import MakePost, MakeUser, graphql, graphql_data

USERS = """query($filter: UserFilter, $orderBy: UserOrder) {
  users(filter: $filter, orderBy: $orderBy) { totalCount edges { node { username } } } }"""
POSTS = """query($filter: PostFilter, $orderBy: PostOrder) {
  posts(filter: $filter, orderBy: $orderBy) { totalCount edges { node { title } } } }"""
INJECTIONS = ("' OR 1=1 --", "'; DROP TABLE users; --")


def _given(variables: dict[str, Any]) -> dict[str, Any]:
    """The variables but those None: an explicit null is not the argument's default."""
    return {name: value for name, value in variables.items() if value is not None}


async def _usernames(client: httpx.AsyncClient, **variables: Any) -> tuple[list[str], int]:
    users = (await graphql_data(client, USERS, _given(variables)))["users"]
    return [edge["node"]["username"] for edge in users["edges"]], users["totalCount"]


async def _titles(client: httpx.AsyncClient, **variables: Any) -> tuple[list[str], int]:
    posts = (await graphql_data(client, POSTS, _given(variables)))["posts"]
    return [edge["node"]["title"] for edge in posts["edges"]], posts["totalCount"]


@pytest.fixture
async def users(make_user: MakeUser) -> None:
    """Created in the order carol, alice, a_b, bob."""
    for name in ("carol", "alice", "a_b", "bob"):
        await make_user(name)


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["a_b", "alice", "bob", "carol"]),
        ("USERNAME", ["a_b", "alice", "bob", "carol"]),
        ("NEWEST", ["bob", "a_b", "alice", "carol"]),
        ("OLDEST", ["carol", "alice", "a_b", "bob"]),
    ],
)
async def test_users_are_listed_in_the_order_asked(
    client: httpx.AsyncClient, order: str | None, expected: list[str]
) -> None:
    assert await _usernames(client, orderBy=order) == (expected, 4)


@pytest.mark.usefixtures("users")
async def test_username_filter_matches_a_part_ignoring_case(client: httpx.AsyncClient) -> None:
    assert await _usernames(client, filter={"usernameContains": "A"}) == (
        ["a_b", "alice", "carol"],
        3,
    )


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(("text", "expected"), [("_", ["a_b"]), ("%", []), ("a_", ["a_b"])])
async def test_username_filter_takes_percent_and_underscore_literally(
    client: httpx.AsyncClient, text: str, expected: list[str]
) -> None:
    assert (await _usernames(client, filter={"usernameContains": text}))[0] == expected


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("text", INJECTIONS)
async def test_username_filter_matches_sql_as_plain_text(
    client: httpx.AsyncClient, text: str
) -> None:
    assert await _usernames(client, filter={"usernameContains": text}) == ([], 0)
    assert (await _usernames(client))[1] == 4


async def test_a_filter_longer_than_200_characters_is_refused(client: httpx.AsyncClient) -> None:
    body = await graphql(client, USERS, {"filter": {"usernameContains": "x" * 201}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 200 characters" in body["errors"][0]["message"]


@pytest.fixture
async def posts(make_user: MakeUser, make_post: MakePost) -> dict[str, str]:
    """alice's "Old news" and "50% off_sale", bob's "Newest"; the users' global ids."""
    alice, bob = await make_user("alice"), await make_user("bob")
    await make_post(alice, "Old news", "About cursors", minute=1)
    await make_post(alice, "50% off_sale", "About nothing", minute=2)
    await make_post(bob, "Newest", "About PAGING and cursors", minute=3)
    return {"alice": alice.id, "bob": bob.id}


@pytest.mark.usefixtures("posts")
@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["Newest", "50% off_sale", "Old news"]),
        ("NEWEST", ["Newest", "50% off_sale", "Old news"]),
        ("OLDEST", ["Old news", "50% off_sale", "Newest"]),
    ],
)
async def test_posts_are_listed_in_the_order_asked(
    client: httpx.AsyncClient, order: str | None, expected: list[str]
) -> None:
    assert await _titles(client, orderBy=order) == (expected, 3)


async def test_posts_filter_by_author(client: httpx.AsyncClient, posts: dict[str, str]) -> None:
    assert await _titles(client, filter={"authorId": posts["alice"]}) == (
        ["50% off_sale", "Old news"],
        2,
    )


async def test_posts_of_an_author_without_posts_are_none(client: httpx.AsyncClient) -> None:
    assert await _titles(client, filter={"authorId": encode_global_id("User", 99)}) == ([], 0)


async def test_posts_filter_by_an_id_that_is_no_user_id_is_refused(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, POSTS, {"filter": {"authorId": encode_global_id("Post", 1)}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.usefixtures("posts")
@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("news", ["Old news"]),
        ("paging", ["Newest"]),
        ("CURSORS", ["Newest", "Old news"]),
        ("%", ["50% off_sale"]),
        ("f_s", ["50% off_sale"]),
        ("_", ["50% off_sale"]),
    ],
)
async def test_posts_search_title_and_body_ignoring_case_and_wildcards(
    client: httpx.AsyncClient, search: str, expected: list[str]
) -> None:
    assert await _titles(client, filter={"search": search}) == (expected, len(expected))


async def test_posts_filters_combine(client: httpx.AsyncClient, posts: dict[str, str]) -> None:
    both = {"authorId": posts["bob"], "search": "cursors"}
    assert await _titles(client, filter=both) == (["Newest"], 1)


@pytest.mark.usefixtures("posts")
@pytest.mark.parametrize("text", INJECTIONS)
async def test_posts_search_matches_sql_as_plain_text(client: httpx.AsyncClient, text: str) -> None:
    assert await _titles(client, filter={"search": text}) == ([], 0)
