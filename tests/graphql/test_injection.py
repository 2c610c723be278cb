"""SQL injection payloads through every string argument of every query and mutation: each is
stored or matched literally, answered with a typed result or error, and every table survives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from sqlalchemy import func, select

from gql_app.db import RequestSession
from gql_app.db.models import AuthToken, Base, Comment, LoginFailure, PersistedDocument, Post, User
from gql_app.graphql.schema import schema
from tests.support.app import bearer_headers, graphql, graphql_data

PAYLOADS = (
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "admin'--",
    "1); DELETE FROM posts; --",
    "%' OR '1'='1",
    "\\'; DROP TABLE comments; --",
    "' UNION SELECT password_hash FROM users --",
    "'; UPDATE users SET username = 'pwned'; --",
    "$1; TRUNCATE auth_tokens CASCADE",
    "nul\x00byte",
)
PASSWORD = "alice's password"
TYPED_CODES = {"BAD_USER_INPUT"}


@dataclass
class World:
    """Alice, signed in, with a post carrying a comment; what each case needs."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    post_id: str
    comment_id: str

    async def send(self, query: str, value: Any, *, signed_in: bool = True) -> dict[str, Any]:
        headers = self.headers if signed_in else None
        return await graphql(self.client, query, {"v": value}, headers=headers)


Case = Callable[[World, str], Awaitable[dict[str, Any]]]


def query(text: str) -> Case:
    async def case(world: World, payload: str) -> dict[str, Any]:
        return await world.send(text, payload)

    return case


def mutation(name: str, input_type: str, fields: str, **others: Any) -> Case:
    """`name(input: {fields: $v, **others})`; `others` may name world attributes as `@attr`."""
    selection = "__typename ... on Error { message }"
    text = f"mutation($v: {input_type}!) {{ {name}(input: $v) {{ {selection} }} }}"

    async def case(world: World, payload: str) -> dict[str, Any]:
        values = {
            key: getattr(world, value[1:]) if isinstance(value, str) and value[:1] == "@" else value
            for key, value in others.items()
        }
        return await world.send(text, values | {fields: payload})

    return case


USER = "{ id username }"
CASES: dict[str, Case] = {
    "Query.user.id": query(f"query($v: ID!) {{ user(id: $v) {USER} }}"),
    "Query.userByUsername.username": query(
        f"query($v: String!) {{ userByUsername(username: $v) {USER} }}"
    ),
    "Query.users.after": query("query($v: String) { users(after: $v) { totalCount } }"),
    "Query.users.before": query("query($v: String) { users(before: $v, last: 5) { totalCount } }"),
    "Query.users.filter.usernameContains": query(
        "query($v: String) { users(filter: {usernameContains: $v}) { totalCount } }"
    ),
    "Query.post.id": query("query($v: ID!) { post(id: $v) { id title } }"),
    "Query.posts.after": query("query($v: String) { posts(after: $v) { totalCount } }"),
    "Query.posts.before": query("query($v: String) { posts(before: $v, last: 5) { totalCount } }"),
    "Query.posts.filter.authorId": query(
        "query($v: ID) { posts(filter: {authorId: $v}) { totalCount } }"
    ),
    "Query.posts.filter.search": query(
        "query($v: String) { posts(filter: {search: $v}) { totalCount } }"
    ),
    "Query.node.id": query("query($v: ID!) { node(id: $v) { id } }"),
    "Query.nodes.ids": query("query($v: ID!) { nodes(ids: [$v]) { id } }"),
    "Mutation.createPost.input.title": mutation(
        "createPost", "CreatePostInput", "title", body="body"
    ),
    "Mutation.createPost.input.body": mutation(
        "createPost", "CreatePostInput", "body", title="title"
    ),
    "Mutation.updatePost.input.id": mutation("updatePost", "UpdatePostInput", "id", title="t"),
    "Mutation.updatePost.input.title": mutation(
        "updatePost", "UpdatePostInput", "title", id="@post_id"
    ),
    "Mutation.updatePost.input.body": mutation(
        "updatePost", "UpdatePostInput", "body", id="@post_id"
    ),
    "Mutation.deletePost.input.id": mutation("deletePost", "DeletePostInput", "id"),
    "Mutation.addComment.input.postId": mutation(
        "addComment", "AddCommentInput", "postId", body="body"
    ),
    "Mutation.addComment.input.body": mutation(
        "addComment", "AddCommentInput", "body", postId="@post_id"
    ),
    "Mutation.deleteComment.input.id": mutation("deleteComment", "DeleteCommentInput", "id"),
    "Mutation.register.input.username": mutation(
        "register", "RegisterInput", "username", email="new@example.com", password=PASSWORD
    ),
    "Mutation.register.input.email": mutation(
        "register", "RegisterInput", "email", username="newcomer", password=PASSWORD
    ),
    "Mutation.register.input.password": mutation(
        "register", "RegisterInput", "password", username="newcomer", email="new@example.com"
    ),
    "Mutation.login.input.login": mutation("login", "LoginInput", "login", password=PASSWORD),
    "Mutation.login.input.password": mutation("login", "LoginInput", "password", login="alice"),
    "Mutation.changePassword.input.currentPassword": mutation(
        "changePassword", "ChangePasswordInput", "currentPassword", newPassword="a new password"
    ),
    "Mutation.changePassword.input.newPassword": mutation(
        "changePassword", "ChangePasswordInput", "newPassword", currentPassword="wrong password"
    ),
    "Mutation.updateProfile.input.username": mutation(
        "updateProfile", "UpdateProfileInput", "username"
    ),
    "Mutation.updateProfile.input.email": mutation("updateProfile", "UpdateProfileInput", "email"),
    "Mutation.deleteAccount.input.password": mutation(
        "deleteAccount", "DeleteAccountInput", "password"
    ),
}


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _string_paths(path: str, argument: GraphQLArgument | GraphQLInputField) -> list[str]:
    named = _named(argument.type)
    if isinstance(named, GraphQLInputObjectType):
        return [p for name, f in named.fields.items() for p in _string_paths(f"{path}.{name}", f)]
    if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID"):
        return [path]
    return []


def string_arguments() -> set[str]:
    """Every String or ID argument (inside input objects too) of the Query and Mutation roots."""
    graphql_schema = schema._schema
    paths = set()
    for root in (graphql_schema.query_type, graphql_schema.mutation_type):
        assert root is not None
        for field_name, field in root.fields.items():
            for name, argument in field.args.items():
                paths.update(_string_paths(f"{root.name}.{field_name}.{name}", argument))
    return paths


def test_the_cases_cover_every_string_argument_of_the_schema() -> None:
    assert set(CASES) == string_arguments()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    register = """mutation($v: RegisterInput!) { register(input: $v) {
        ... on AuthSuccess { token } } }"""
    fields = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    token = (await graphql_data(client, register, {"v": fields}))["register"]["token"]
    headers = bearer_headers(token)
    create_post = """mutation { createPost(input: {title: "A post", body: "Its body"}) {
        ... on CreatePostSuccess { post { id } } } }"""
    post_id = (await graphql_data(client, create_post, headers=headers))["createPost"]["post"]["id"]
    add_comment = """mutation($v: ID!) { addComment(input: {postId: $v, body: "A comment"}) {
        ... on AddCommentSuccess { comment { id } } } }"""
    data = await graphql_data(client, add_comment, {"v": post_id}, headers=headers)
    return World(client, headers, post_id, data["addComment"]["comment"]["id"])


async def _row_counts(db: RequestSession) -> dict[str, int]:
    """Rows per table; a dropped table would make this fail."""
    counts = {}
    async with db.transaction() as session:
        for model in (User, Post, Comment, AuthToken, LoginFailure, PersistedDocument):
            statement = select(func.count()).select_from(model)
            counts[model.__tablename__] = (await session.execute(statement)).scalar_one()
    assert set(counts) | {"alembic_version"} >= set(Base.metadata.tables)
    return counts


def _untyped(body: dict[str, Any]) -> list[Any]:
    """What in an answer is neither data nor a typed error: masked errors, leaked internals."""
    wrong: list[Any] = [
        error
        for error in body.get("errors", [])
        if error.get("extensions", {}).get("code") not in TYPED_CODES
    ]
    text = str(body).lower()
    wrong += [leak for leak in ("traceback", "sqlalchemy", "asyncpg", "sqlite3") if leak in text]
    return wrong


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_a_payload_in_every_string_argument_gets_typed_answers_and_tables_survive(
    world: World, db: RequestSession, payload: str
) -> None:
    before = await _row_counts(db)
    wrong = {}
    for argument, case in sorted(CASES.items()):
        if problems := _untyped(await case(world, payload)):
            wrong[argument] = problems
    after = await _row_counts(db)
    assert wrong == {}
    assert set(after) == set(before)
    assert after["users"] >= 1
    assert after["posts"] >= 1
    assert after["comments"] >= 1


LOGIN = """mutation($v: LoginInput!) { login(input: $v) { __typename } }"""
REGISTER = """mutation($v: RegisterInput!) { register(input: $v) {
    __typename ... on AuthSuccess { token user { username email } } } }"""


async def _register(client: httpx.AsyncClient, username: str, email: str, password: str) -> Any:
    fields = {"username": username, "email": email, "password": password}
    return (await graphql_data(client, REGISTER, {"v": fields}))["register"]


async def _login(client: httpx.AsyncClient, login: str, password: str) -> str:
    data = await graphql_data(client, LOGIN, {"v": {"login": login, "password": password}})
    typename: str = data["login"]["__typename"]
    return typename


async def test_a_payload_password_matches_itself_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    await _register(client, "mallory", "mallory@example.com", "' OR 1=1 --")
    assert await _login(client, "mallory", "' OR 1=1 --") == "AuthSuccess"
    assert await _login(client, "mallory", "' OR 1=2 --") == "InvalidCredentials"
    assert await _login(client, "mallory", "' OR ''='") == "InvalidCredentials"


@pytest.mark.parametrize("login", ["' OR 1=1 --", "alice' --", "%", "_____", "' OR '1'='1@x.io"])
async def test_a_payload_login_matches_no_account(client: httpx.AsyncClient, login: str) -> None:
    await _register(client, "alice", "alice@example.com", PASSWORD)
    assert await _login(client, login, PASSWORD) == "InvalidCredentials"


@pytest.mark.parametrize(
    "email", ["o'reilly@example.com", "x'OR'1'='1@example.com", "a+'--@example.com"]
)
async def test_payload_emails_are_stored_literally(client: httpx.AsyncClient, email: str) -> None:
    result = await _register(client, "quoted", email, PASSWORD)
    assert result["user"]["email"] == email
    headers = bearer_headers(result["token"])
    assert (await graphql_data(client, "{ me { email } }", headers=headers))["me"]["email"] == email


async def test_payload_post_and_comment_texts_are_stored_literally(world: World) -> None:
    for payload in PAYLOADS[:-1]:
        create = """mutation($v: CreatePostInput!) { createPost(input: $v) {
            ... on CreatePostSuccess { post { id title body } } } }"""
        data = await graphql_data(
            world.client, create, {"v": {"title": payload, "body": payload}}, headers=world.headers
        )
        post = data["createPost"]["post"]
        assert (post["title"], post["body"]) == (payload, payload)
        comment = """mutation($v: AddCommentInput!) { addComment(input: $v) {
            ... on AddCommentSuccess { comment { body } } } }"""
        data = await graphql_data(
            world.client,
            comment,
            {"v": {"postId": post["id"], "body": payload}},
            headers=world.headers,
        )
        assert data["addComment"]["comment"]["body"] == payload


async def test_payload_searches_match_literally(world: World) -> None:
    search = "query($v: String) { posts(filter: {search: $v}) { totalCount } }"
    payload = "%' OR '1'='1"
    assert (await world.send(search, payload))["data"]["posts"]["totalCount"] == 0
    create = """mutation($v: CreatePostInput!) { createPost(input: $v) { __typename } }"""
    await world.send(create, {"title": f"about {payload} here", "body": "b"})
    assert (await world.send(search, payload))["data"]["posts"]["totalCount"] == 1


async def test_a_payload_username_finds_no_user(world: World) -> None:
    lookup = "query($v: String!) { userByUsername(username: $v) { id } }"
    for payload in ("' OR 1=1 --", "alice' --", "%"):
        assert (await world.send(lookup, payload))["data"]["userByUsername"] is None
