"""Post and comment mutations: success, typed errors, validation and permissions."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gql_app import queries
from gql_app.db import RequestSession
from gql_app.db.models import Comment, Post
from gql_app.graphql import mutation
from gql_app.graphql.ids import encode_global_id
from tests.support.app import (
    AuthUser,
    MakeComment,
    MakePost,
    MakeUser,
    StatementLog,
    graphql_data,
)

PAYLOAD = "__typename ... on Error { message } ... on ValidationError { field }"
CREATE_POST = f"""mutation($input: CreatePostInput!) {{ createPost(input: $input) {{ {PAYLOAD}
  ... on CreatePostSuccess {{ post {{ id title body createdAt updatedAt author {{ username }} }} }}
}} }}"""
UPDATE_POST = f"""mutation($input: UpdatePostInput!) {{ updatePost(input: $input) {{ {PAYLOAD}
  ... on UpdatePostSuccess {{ post {{ id title body createdAt updatedAt }} }} }} }}"""
DELETE_POST = f"""mutation($input: DeletePostInput!) {{ deletePost(input: $input) {{ {PAYLOAD}
  ... on DeletePostSuccess {{ deletedPostId }} }} }}"""
ADD_COMMENT = f"""mutation($input: AddCommentInput!) {{ addComment(input: $input) {{ {PAYLOAD}
  ... on AddCommentSuccess {{ comment {{ id body author {{ username }}
    post {{ id commentCount }} }} }} }} }}"""
DELETE_COMMENT = f"""mutation($input: DeleteCommentInput!) {{ deleteComment(input: $input) {{
  {PAYLOAD} ... on DeleteCommentSuccess {{ deletedCommentId }} }} }}"""


@pytest.fixture
async def alice(make_user: MakeUser) -> AuthUser:
    return await make_user("alice")


@pytest.fixture
async def bob(make_user: MakeUser) -> AuthUser:
    return await make_user("bob")


@pytest.fixture
async def alices_post(alice: AuthUser, make_post: MakePost) -> str:
    return await make_post(alice, "Original", "Original body")


async def _mutate(
    client: httpx.AsyncClient, mutation: str, user: AuthUser | None, **fields: Any
) -> dict[str, Any]:
    headers = user.headers if user is not None else None
    data = await graphql_data(client, mutation, {"input": fields}, headers=headers)
    [payload] = data.values()
    result: dict[str, Any] = payload
    return result


ACCOUNT_DELETED = {
    "__typename": "NotAuthenticated",
    "message": "Your account no longer exists: it was deleted.",
}


@pytest.fixture
def account_deleted_after_sign_in(monkeypatch: pytest.MonkeyPatch, db: RequestSession) -> None:
    """The viewer's `deleteAccount` commits between its sign-in and the mutation's write:
    the race, made deterministic."""
    signed_in = mutation._viewer_id

    async def then_deleted(info: Any) -> int:
        viewer_id = await signed_in(info)
        async with db.transaction(write=True) as session:
            await queries.delete_user(session, viewer_id)
        return viewer_id

    monkeypatch.setattr(mutation, "_viewer_id", then_deleted)


async def _count(db: RequestSession, table: type[Post] | type[Comment]) -> int:
    async with db.transaction() as session:
        count: int = (await session.execute(select(func.count()).select_from(table))).scalar_one()
    return count


async def test_create_post_writes_a_trimmed_post_by_the_viewer(
    client: httpx.AsyncClient, alice: AuthUser
) -> None:
    payload = await _mutate(client, CREATE_POST, alice, title="  Hello  ", body="\n World \n")
    assert payload["__typename"] == "CreatePostSuccess"
    post = payload["post"]
    assert (post["title"], post["body"], post["author"]) == (
        "Hello",
        "World",
        {"username": "alice"},
    )
    assert post["createdAt"] == post["updatedAt"]
    found = await graphql_data(
        client, "query($id: ID!) { post(id: $id) { title } }", {"id": post["id"]}
    )
    assert found == {"post": {"title": "Hello"}}


async def test_create_post_stores_sql_as_plain_text(
    client: httpx.AsyncClient, alice: AuthUser, db: RequestSession
) -> None:
    for text in ("' OR 1=1 --", "'; DROP TABLE users; --"):
        payload = await _mutate(client, CREATE_POST, alice, title=text, body=text)
        assert (payload["post"]["title"], payload["post"]["body"]) == (text, text)
    assert await _count(db, Post) == 2
    me = await graphql_data(client, "{ me { username } }", headers=alice.headers)
    assert me == {"me": {"username": "alice"}}


@pytest.mark.parametrize(
    ("mutation", "fields"),
    [
        (CREATE_POST, {"title": "Hi", "body": "There"}),
        (UPDATE_POST, {"id": "post", "title": "New"}),
        (DELETE_POST, {"id": "post"}),
        (ADD_COMMENT, {"postId": "post", "body": "Hi"}),
        (DELETE_COMMENT, {"id": "comment"}),
    ],
)
async def test_every_mutation_needs_a_signed_in_user_and_writes_nothing_without(
    client: httpx.AsyncClient,
    alice: AuthUser,
    alices_post: str,
    make_comment: MakeComment,
    db: RequestSession,
    mutation: str,
    fields: dict[str, str],
) -> None:
    ids = {"post": alices_post, "comment": await make_comment(alice, alices_post)}
    given = {name: ids.get(value, value) for name, value in fields.items()}
    payload = await _mutate(client, mutation, None, **given)
    assert payload == {
        "__typename": "NotAuthenticated",
        "message": "Sign in first: send a live token as `Authorization: Bearer <token>`.",
    }
    assert (await _count(db, Post), await _count(db, Comment)) == (1, 1)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": "   ", "body": "Body"}, "title", "Title must not be empty."),
        (
            {"title": "x" * 201, "body": "Body"},
            "title",
            "Title must be at most 200 characters (it has 201).",
        ),
        ({"title": "Title", "body": ""}, "body", "Body must not be empty."),
        (
            {"title": "Title", "body": "x" * 10_001},
            "body",
            "Body must be at most 10,000 characters (it has 10,001).",
        ),
        ({"title": "Nul\x00", "body": "Body"}, "title", "Title must not contain NUL characters."),
    ],
)
async def test_create_post_explains_invalid_fields(
    client: httpx.AsyncClient,
    alice: AuthUser,
    db: RequestSession,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    payload = await _mutate(client, CREATE_POST, alice, **fields)
    assert payload == {"__typename": "ValidationError", "message": message, "field": field}
    assert await _count(db, Post) == 0


async def test_create_post_takes_the_longest_title_and_body(
    client: httpx.AsyncClient, alice: AuthUser
) -> None:
    payload = await _mutate(client, CREATE_POST, alice, title="t" * 200, body="b" * 10_000)
    assert payload["__typename"] == "CreatePostSuccess"


async def test_update_post_changes_only_the_fields_given(
    client: httpx.AsyncClient, alice: AuthUser, alices_post: str
) -> None:
    payload = await _mutate(client, UPDATE_POST, alice, id=alices_post, title=" New ")
    post = payload["post"]
    assert (post["id"], post["title"], post["body"]) == (alices_post, "New", "Original body")
    assert post["updatedAt"] > post["createdAt"]
    payload = await _mutate(client, UPDATE_POST, alice, id=alices_post, body="New body")
    assert (payload["post"]["title"], payload["post"]["body"]) == ("New", "New body")


async def test_update_post_needs_a_new_title_or_body(
    client: httpx.AsyncClient, alice: AuthUser, alices_post: str
) -> None:
    payload = await _mutate(client, UPDATE_POST, alice, id=alices_post)
    assert payload == {
        "__typename": "ValidationError",
        "message": "Give a new title or body.",
        "field": "title",
    }


async def test_update_post_validates_the_new_values(
    client: httpx.AsyncClient, alice: AuthUser, alices_post: str
) -> None:
    payload = await _mutate(client, UPDATE_POST, alice, id=alices_post, body=" ")
    assert (payload["__typename"], payload["field"]) == ("ValidationError", "body")


async def test_update_post_of_another_author_is_forbidden(
    client: httpx.AsyncClient, bob: AuthUser, alices_post: str
) -> None:
    payload = await _mutate(client, UPDATE_POST, bob, id=alices_post, title="Mine now")
    assert payload == {
        "__typename": "Forbidden",
        "message": "Only its author may change or delete a post.",
    }
    query = "query($id: ID!) { post(id: $id) { title } }"
    assert await graphql_data(client, query, {"id": alices_post}) == {"post": {"title": "Original"}}


async def test_update_post_of_a_missing_post_is_not_found(
    client: httpx.AsyncClient, alice: AuthUser
) -> None:
    missing = encode_global_id("Post", 999)
    payload = await _mutate(client, UPDATE_POST, alice, id=missing, title="New")
    assert payload == {"__typename": "NotFound", "message": "There is no such post."}


@pytest.mark.parametrize("bad_id", ["nonsense", encode_global_id("Comment", 1)])
async def test_a_malformed_or_foreign_id_is_a_validation_error(
    client: httpx.AsyncClient, alice: AuthUser, bad_id: str
) -> None:
    payload = await _mutate(client, DELETE_POST, alice, id=bad_id)
    assert payload == {
        "__typename": "ValidationError",
        "message": "This is not the id of a Post.",
        "field": "id",
    }


async def test_delete_post_deletes_it_and_its_comments(
    client: httpx.AsyncClient,
    alice: AuthUser,
    bob: AuthUser,
    alices_post: str,
    make_comment: MakeComment,
    db: RequestSession,
) -> None:
    await make_comment(bob, alices_post)
    await make_comment(alice, alices_post)
    payload = await _mutate(client, DELETE_POST, alice, id=alices_post)
    assert payload == {"__typename": "DeletePostSuccess", "deletedPostId": alices_post}
    assert (await _count(db, Post), await _count(db, Comment)) == (0, 0)
    node = await graphql_data(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": alices_post}
    )
    assert node == {"node": None}


async def test_delete_post_of_another_author_is_forbidden(
    client: httpx.AsyncClient, bob: AuthUser, alices_post: str, db: RequestSession
) -> None:
    payload = await _mutate(client, DELETE_POST, bob, id=alices_post)
    assert payload["__typename"] == "Forbidden"
    assert await _count(db, Post) == 1


async def test_delete_post_twice_is_not_found_the_second_time(
    client: httpx.AsyncClient, alice: AuthUser, alices_post: str
) -> None:
    await _mutate(client, DELETE_POST, alice, id=alices_post)
    payload = await _mutate(client, DELETE_POST, alice, id=alices_post)
    assert payload == {"__typename": "NotFound", "message": "There is no such post."}


async def test_add_comment_writes_a_trimmed_comment_by_the_viewer(
    client: httpx.AsyncClient, bob: AuthUser, alices_post: str
) -> None:
    payload = await _mutate(client, ADD_COMMENT, bob, postId=alices_post, body=" Nice post ")
    comment = payload["comment"]
    assert (comment["body"], comment["author"]) == ("Nice post", {"username": "bob"})
    assert comment["post"] == {"id": alices_post, "commentCount": 1}


async def test_add_comment_twice_in_one_operation_counts_both(
    client: httpx.AsyncClient, bob: AuthUser, alices_post: str
) -> None:
    operation = """mutation($id: ID!) {
      one: addComment(input: {postId: $id, body: "1"}) { ... on AddCommentSuccess {
        comment { post { commentCount } } } }
      two: addComment(input: {postId: $id, body: "2"}) { ... on AddCommentSuccess {
        comment { post { commentCount } } } } }"""
    data = await graphql_data(client, operation, {"id": alices_post}, headers=bob.headers)
    counts = [data[name]["comment"]["post"]["commentCount"] for name in ("one", "two")]
    assert counts == [1, 2]


async def test_add_comment_to_a_missing_post_is_not_found(
    client: httpx.AsyncClient, bob: AuthUser, db: RequestSession
) -> None:
    missing = encode_global_id("Post", 999)
    payload = await _mutate(client, ADD_COMMENT, bob, postId=missing, body="Hello?")
    assert payload == {"__typename": "NotFound", "message": "There is no such post."}
    assert await _count(db, Comment) == 0


@pytest.mark.usefixtures("account_deleted_after_sign_in")
async def test_create_post_as_an_account_deleted_meanwhile_is_not_authenticated(
    client: httpx.AsyncClient, alice: AuthUser, db: RequestSession
) -> None:
    payload = await _mutate(client, CREATE_POST, alice, title="Late", body="Too late")
    assert payload == ACCOUNT_DELETED
    assert await _count(db, Post) == 0


@pytest.mark.usefixtures("account_deleted_after_sign_in")
async def test_add_comment_as_an_account_deleted_meanwhile_is_not_authenticated(
    client: httpx.AsyncClient, alices_post: str, bob: AuthUser, db: RequestSession
) -> None:
    payload = await _mutate(client, ADD_COMMENT, bob, postId=alices_post, body="Too late")
    assert payload == ACCOUNT_DELETED
    assert await _count(db, Comment) == 0
    assert await _count(db, Post) == 1  # the post was there all along


async def test_add_comment_validates_the_body_and_post_id(
    client: httpx.AsyncClient, bob: AuthUser, alices_post: str
) -> None:
    empty = await _mutate(client, ADD_COMMENT, bob, postId=alices_post, body="\t")
    assert (empty["field"], empty["message"]) == ("body", "Body must not be empty.")
    bad_id = await _mutate(client, ADD_COMMENT, bob, postId=bob.id, body="Hi")
    assert (bad_id["field"], bad_id["message"]) == ("postId", "This is not the id of a Post.")


async def test_delete_comment_deletes_only_that_comment(
    client: httpx.AsyncClient,
    bob: AuthUser,
    alices_post: str,
    make_comment: MakeComment,
    db: RequestSession,
) -> None:
    comment_id = await make_comment(bob, alices_post)
    await make_comment(bob, alices_post)
    payload = await _mutate(client, DELETE_COMMENT, bob, id=comment_id)
    assert payload == {"__typename": "DeleteCommentSuccess", "deletedCommentId": comment_id}
    assert await _count(db, Comment) == 1


async def test_delete_comment_of_another_user_is_forbidden_even_for_the_post_author(
    client: httpx.AsyncClient,
    alice: AuthUser,
    bob: AuthUser,
    alices_post: str,
    make_comment: MakeComment,
    db: RequestSession,
) -> None:
    comment_id = await make_comment(bob, alices_post)
    payload = await _mutate(client, DELETE_COMMENT, alice, id=comment_id)
    assert payload == {
        "__typename": "Forbidden",
        "message": "Only its author may change or delete a comment.",
    }
    assert await _count(db, Comment) == 1


async def test_delete_comment_of_a_missing_comment_is_not_found(
    client: httpx.AsyncClient, alice: AuthUser
) -> None:
    missing = encode_global_id("Comment", 999)
    payload = await _mutate(client, DELETE_COMMENT, alice, id=missing)
    assert payload == {"__typename": "NotFound", "message": "There is no such comment."}


NEW_COMMENTS_AUTHOR = """mutation($input: AddCommentInput!) { addComment(input: $input) {
  ... on AddCommentSuccess { comment { body author { username } } } } }"""


async def test_add_comment_reads_no_statement_for_its_author_the_viewer(
    client: httpx.AsyncClient, sql_log: StatementLog, alice: AuthUser, alices_post: str
) -> None:
    sql_log.clear()
    data = await graphql_data(
        client,
        NEW_COMMENTS_AUTHOR,
        {"input": {"postId": alices_post, "body": "Hi"}},
        headers=alice.headers,
    )
    assert data == {"addComment": {"comment": {"body": "Hi", "author": {"username": "alice"}}}}
    # The viewer's lookup, then the insert (on PostgreSQL with its event's pg_notify, in
    # the same statement).
    assert [statement.split()[0] for statement in sql_log.queries()] in (
        ["SELECT", "INSERT"],
        ["SELECT", "WITH"],
    )
    assert all("FROM users" not in s or "auth_tokens" in s for s in sql_log.queries())


async def test_after_a_profile_change_the_new_comments_author_is_read_as_changed(
    client: httpx.AsyncClient, alice: AuthUser, alices_post: str
) -> None:
    both = (
        'mutation($input: AddCommentInput!) { updateProfile(input: {username: "alicia"}) {'
        " __typename } addComment(input: $input) {"
        " ... on AddCommentSuccess { comment { author { username } } } } }"
    )
    data = await graphql_data(
        client, both, {"input": {"postId": alices_post, "body": "Hi"}}, headers=alice.headers
    )
    assert data["addComment"] == {"comment": {"author": {"username": "alicia"}}}
