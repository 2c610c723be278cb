"""Relay-ready payloads: the edge a mutation returns has a cursor valid in the connections its
node belongs to, so `@prependEdge`/`@appendEdge` can insert it where paging would find it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.app import AuthUser, MakeComment, MakePost, MakeUser, graphql_data

CREATE_POST = """mutation { createPost(input: {title: "New", body: "Body"}) {
  ... on CreatePostSuccess { post { id } postEdge { cursor node { id title } } } } }"""
ADD_COMMENT = """mutation($post: ID!) { addComment(input: {postId: $post, body: "New"}) {
  ... on AddCommentSuccess { comment { id } commentEdge { cursor node { id body } } } } }"""
POSTS = """query($user: ID!, $after: String) {
  posts(first: 10, after: $after) { edges { cursor node { id } } }
  node(id: $user) { ... on User {
    posts(first: 10, after: $after) { edges { cursor node { id } } } } }
}"""
COMMENTS = """query($post: ID!, $before: String) { node(id: $post) { ... on Post {
  comments(first: 10) { edges { cursor node { id } } }
  older: comments(last: 10, before: $before) { edges { node { id } } } } } }"""


def _edges(connection: dict[str, Any]) -> list[tuple[str, str]]:
    return [(edge["cursor"], edge["node"]["id"]) for edge in connection["edges"]]


def _ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_a_new_posts_edge_has_its_cursor_in_both_post_connections(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost
) -> None:
    alice: AuthUser = await make_user("alice")
    older = [await make_post(alice, minute=minute) for minute in (1, 0)]
    created = (await graphql_data(client, CREATE_POST, headers=alice.headers))["createPost"]
    edge = created["postEdge"]
    assert edge["node"] == {"id": created["post"]["id"], "title": "New"}
    listed = await graphql_data(client, POSTS, {"user": alice.id})
    assert _edges(listed["posts"])[0] == (edge["cursor"], created["post"]["id"])
    assert _edges(listed["node"]["posts"])[0] == (edge["cursor"], created["post"]["id"])
    after = await graphql_data(client, POSTS, {"user": alice.id, "after": edge["cursor"]})
    assert _ids(after["posts"]) == _ids(after["node"]["posts"]) == older


async def test_a_new_comments_edge_has_its_cursor_in_its_posts_comments(
    client: httpx.AsyncClient, make_user: MakeUser, make_post: MakePost, make_comment: MakeComment
) -> None:
    alice: AuthUser = await make_user("alice")
    post = await make_post(alice)
    earlier = [await make_comment(alice, post, minute=minute) for minute in (0, 1)]
    added = await graphql_data(client, ADD_COMMENT, {"post": post}, headers=alice.headers)
    edge = added["addComment"]["commentEdge"]
    assert edge["node"] == {"id": added["addComment"]["comment"]["id"], "body": "New"}
    listed = await graphql_data(client, COMMENTS, {"post": post, "before": edge["cursor"]})
    assert _edges(listed["node"]["comments"])[-1] == (edge["cursor"], edge["node"]["id"])
    assert _ids(listed["node"]["older"]) == earlier
