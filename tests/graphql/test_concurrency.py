"""DESIGN.md contract 1: sibling fields hit the database at once, on one session per request."""

import asyncio

import httpx

from gql_app.db import RequestSession
from gql_app.domain.seed import seed
from tests.support.app import MakeUser, graphql

SIBLINGS = """query($me: ID!) {
  me { username postCount posts(first: 3) { edges { node { title commentCount } } } }
  users(first: 5) { totalCount edges { node { username
    posts(first: 2) { edges { node {
      comments(first: 2) { edges { node { author { username } } } } } } } } } }
  posts(first: 5, orderBy: OLDEST) {
    totalCount edges { node { author { username } commentCount } } }
  node(id: $me) { id ... on User { comments(last: 2) { totalCount } } }
  user(id: $me) { email postCount }
  userByUsername(username: "user00002") { username }
}"""


async def test_concurrent_requests_with_concurrent_sibling_fields_all_succeed_alike(
    client: httpx.AsyncClient, db: RequestSession, make_user: MakeUser
) -> None:
    async with db.transaction(write=True) as session:
        await seed(session, users=8, posts_per_user=4, comments_per_post=3)
    viewer = await make_user("viewer")
    bodies = await asyncio.gather(
        *(graphql(client, SIBLINGS, {"me": viewer.id}, headers=viewer.headers) for _ in range(20))
    )
    assert all("errors" not in body for body in bodies), [
        b["errors"] for b in bodies if "errors" in b
    ]
    assert all(body == bodies[0] for body in bodies)
    data = bodies[0]["data"]
    assert data["me"]["username"] == "viewer"
    assert data["users"]["totalCount"] == 9
    assert data["posts"]["totalCount"] == 32
    assert data["user"]["email"] == "viewer@example.com"
    assert data["userByUsername"] == {"username": "user00002"}
