"""The operations the benchmark sends, and the requests (bodies, tokens) of each load."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from bench.load import Request
from gql_app.domain.seed import DEMO_PASSWORD
from gql_app.graphql.ids import encode_global_id as global_id
from gql_app.graphql.manifests import document_hash

NESTED = """
query Nested($users: Int!, $posts: Int!, $comments: Int!) {
  users(first: $users) { edges { node { id username
    posts(first: $posts) { edges { node { id title
      comments(first: $comments) { edges { node { id body author { id username } } } }
    } } }
  } } }
}"""

TINY = """
query Tiny($id: ID!) { user(id: $id) { username } }"""

PAGE = """
query Page($first: Int!, $comments: Int!) {
  posts(first: $first, orderBy: NEWEST) { edges { node { id title createdAt
    author { id username }
    commentCount
    comments(first: $comments) { edges { node { id body author { id username } } } }
  } } }
}"""

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    __typename ... on AuthSuccess { user { id username } token expiresAt }
  }
}"""

ADD_COMMENT = """
mutation AddComment($input: AddCommentInput!) {
  addComment(input: $input) {
    __typename ... on AddCommentSuccess { comment { id body author { id username } } }
  }
}"""


# The same operations in PostGraphile's schema (bench/peer/, the Amber preset's inflection):
# aliases give the answers gql_app's shape; node ids are base64 of ["Type", "row id"].
PEER_NESTED = """
query Nested($users: Int!, $posts: Int!, $comments: Int!) {
  users: allUsers(first: $users, orderBy: [USERNAME_ASC]) { edges { node { id username
    posts: postsByAuthorId(first: $posts, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
      edges { node { id title
        comments: commentsByPostId(first: $comments, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {
          edges { node { id body author: userByAuthorId { id username } } } }
      } } }
  } } }
}"""

PEER_TINY = """
query Tiny($id: ID!) { user(id: $id) { username } }"""

PEER_PAGE = """
query Page($first: Int!, $comments: Int!) {
  posts: allPosts(first: $first, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
    edges { node { id title createdAt
      author: userByAuthorId { id username }
      commentCount: commentsByPostId { totalCount }
      comments: commentsByPostId(first: $comments, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {
        edges { node { id body author: userByAuthorId { id username } } } }
    } }
  }
}"""

# PostGraphile's createComment checks no token: the author is given, the one gql_app's
# request signs in as (the write load's request i uses the token of signed-in user i).
PEER_ADD_COMMENT = """
mutation AddComment($input: CreateCommentInput!) {
  addComment: createComment(input: $input) {
    comment { id body author: userByAuthorId { id username } }
  }
}"""

SIGNED_IN_USERS = 32


def peer_node_id(typename: str, row_id: int) -> str:
    return base64.b64encode(orjson.dumps([typename, str(row_id)])).decode()


def _row_of_id(value: str) -> tuple[str, int] | str:
    """The (type, row id) of a global id of either server's form, else `value` itself."""
    try:
        decoded = base64.urlsafe_b64decode(value.encode()).decode()
    except ValueError:
        return value
    if decoded.startswith("["):
        typename, row_id = orjson.loads(decoded)
        return typename, int(row_id)
    typename, _, row_id = decoded.partition(":")
    return (typename, int(row_id)) if row_id.isdigit() else value


def same_rows(data: Any) -> Any:
    """`data` of gql_app or of the peer with what differs only in spelling made one: global
    ids as (type, row id), timestamps as datetimes, PostGraphile's `{totalCount}` counts as
    numbers, no `__typename` (PostGraphile's payloads are no unions). Equal for both servers
    when they answered the same rows."""
    if isinstance(data, list):
        return [same_rows(item) for item in data]
    if not isinstance(data, dict):
        return data
    if data.keys() == {"totalCount"}:
        return data["totalCount"]
    made: dict[str, Any] = {}
    for key, value in data.items():
        if key == "__typename":
            continue
        if key == "id" and isinstance(value, str):
            made[key] = _row_of_id(value)
        elif key == "createdAt" and isinstance(value, str):
            made[key] = datetime.fromisoformat(value)
        else:
            made[key] = same_rows(value)
    return made


@dataclass(frozen=True)
class Rows:
    """The dataset's ids and usernames, which the requests rotate through."""

    user_ids: tuple[int, ...]
    usernames: tuple[str, ...]
    post_ids: tuple[int, ...]

    def user(self, index: int) -> int:
        return self.user_ids[index * 7919 % len(self.user_ids)]

    def username(self, index: int) -> str:
        return self.usernames[index * 7919 % len(self.usernames)]

    def post(self, index: int) -> int:
        return self.post_ids[index * 7919 % len(self.post_ids)]

    def signed_in(self, index: int) -> int:
        """The user whose token request `index` of a signed-in load sends."""
        return self.user_ids[index % min(SIGNED_IN_USERS, len(self.user_ids))]


@dataclass(frozen=True)
class PeerDocument:
    """An operation written in the peer's (PostGraphile's) schema."""

    document: str
    variables: Callable[[int, Rows], dict[str, Any]]
    expect: str = '{"data":'


def _blanked(data: Any, path: tuple[str, ...]) -> Any:
    """`data` with the value at `path` set to None (unchanged if there is none)."""
    if not path:
        return None
    if not isinstance(data, dict) or path[0] not in data:
        return data
    return data | {path[0]: _blanked(data[path[0]], path[1:])}


@dataclass(frozen=True)
class Operation:
    """One benchmarked operation: request `i` sends `variables(i, rows)`."""

    name: str
    title: str
    document: str
    operation_name: str
    variables: Callable[[int, Rows], dict[str, Any]]
    expect: str = '{"data":'
    signed_in: bool = False
    writes: bool = False
    # Paths in `data` to values each request makes anew (ids of new rows, tokens, expiry).
    generated: tuple[tuple[str, ...], ...] = ()
    peer: PeerDocument | None = None
    # The body names the document by its APQ hash alone (registered beforehand).
    persisted: bool = False

    def comparable(self, data: Any) -> Any:
        """`data` with the generated values set to None: equal for gql_app and the floor."""
        for path in self.generated:
            data = _blanked(data, path)
        return data

    def body(self, index: int, rows: Rows, *, peer: bool = False) -> bytes:
        document, variables = (
            (self.peer.document, self.peer.variables)
            if peer and self.peer
            else (self.document, self.variables)
        )
        parameters: dict[str, Any] = {
            "operationName": self.operation_name,
            "variables": variables(index, rows),
        }
        if self.persisted and not peer:
            sha256 = document_hash(document)
            parameters["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
        else:
            parameters["query"] = document
        return orjson.dumps(parameters)

    def expected(self, *, peer: bool = False) -> str:
        """What every answer of a successful request holds (wrk counts the others as errors)."""
        return self.peer.expect if peer and self.peer else self.expect

    def requests(
        self, count: int, rows: Rows, tokens: list[str], *, peer: bool = False
    ) -> list[Request]:
        """The load's request bodies; the peer's carry no token (it checks none)."""
        signed_in = self.signed_in and not peer
        return [
            Request(self.body(i, rows, peer=peer), tokens[i % len(tokens)] if signed_in else None)
            for i in range(count)
        ]


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "nested",
        "first 50 users × 10 posts × 5 comments + authors",
        NESTED,
        "Nested",
        lambda _i, _rows: {"users": 50, "posts": 10, "comments": 5},
        peer=PeerDocument(PEER_NESTED, lambda _i, _rows: {"users": 50, "posts": 10, "comments": 5}),
    ),
    Operation(
        "tiny",
        "one user's username by id",
        TINY,
        "Tiny",
        lambda i, rows: {"id": global_id("User", rows.user(i))},
        peer=PeerDocument(PEER_TINY, lambda i, rows: {"id": peer_node_id("User", rows.user(i))}),
    ),
    Operation(
        "page",
        "20 newest posts with author, comment count, first 3 comments",
        PAGE,
        "Page",
        lambda _i, _rows: {"first": 20, "comments": 3},
        peer=PeerDocument(PEER_PAGE, lambda _i, _rows: {"first": 20, "comments": 3}),
    ),
    Operation(
        "login",
        "login with username and password",
        LOGIN,
        "Login",
        lambda i, rows: {"input": {"login": rows.username(i), "password": DEMO_PASSWORD}},
        expect='"__typename":"AuthSuccess"',
        writes=True,
        generated=(("login", "token"), ("login", "expiresAt")),
    ),
    Operation(
        "write",
        "addComment on rotating posts by signed-in users",
        ADD_COMMENT,
        "AddComment",
        lambda i, rows: {
            "input": {"postId": global_id("Post", rows.post(i)), "body": f"bench {i}"}
        },
        expect='"AddCommentSuccess"',
        signed_in=True,
        writes=True,
        generated=(("addComment", "comment", "id"),),
        peer=PeerDocument(
            PEER_ADD_COMMENT,
            lambda i, rows: {
                "input": {
                    "comment": {
                        "postId": str(rows.post(i)),
                        "authorId": str(rows.signed_in(i)),
                        "body": f"bench {i}",
                    }
                }
            },
            expect='"addComment":{"comment":{"id"',
        ),
    ),
)


def by_hash(operation: Operation) -> Operation:
    """`operation`, its requests naming the document by APQ hash instead of sending it."""
    return replace(
        operation,
        name=f"{operation.name}-hash",
        title=f"{operation.title}, by APQ hash alone",
        persisted=True,
    )


def persisted_manifest(operations: Iterable[Operation]) -> dict[str, str]:
    """The documents of the persisted operations, as `gql-app persist` reads them: every
    worker then finds them by hash in the database."""
    return {document_hash(op.document): op.document for op in operations if op.persisted}


OPERATIONS = (*OPERATIONS, *(by_hash(op) for op in OPERATIONS if op.name in ("tiny", "page")))
BY_NAME = {operation.name: operation for operation in OPERATIONS}
