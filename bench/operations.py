"""The operations the benchmark sends, and the requests (bodies, tokens) of each load."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
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
    # The body names the document by its APQ hash alone (registered beforehand).
    persisted: bool = False

    def comparable(self, data: Any) -> Any:
        """`data` with the generated values set to None: equal for gql_app and the floor."""
        for path in self.generated:
            data = _blanked(data, path)
        return data

    def body(self, index: int, rows: Rows) -> bytes:
        parameters: dict[str, Any] = {
            "operationName": self.operation_name,
            "variables": self.variables(index, rows),
        }
        if self.persisted:
            sha256 = document_hash(self.document)
            parameters["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
        else:
            parameters["query"] = self.document
        return orjson.dumps(parameters)

    def requests(self, count: int, rows: Rows, tokens: list[str]) -> list[Request]:
        return [
            Request(self.body(i, rows), tokens[i % len(tokens)] if self.signed_in else None)
            for i in range(count)
        ]


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "nested",
        "first 50 users × 10 posts × 5 comments + authors",
        NESTED,
        "Nested",
        lambda _i, _rows: {"users": 50, "posts": 10, "comments": 5},
    ),
    Operation(
        "tiny",
        "one user's username by id",
        TINY,
        "Tiny",
        lambda i, rows: {"id": global_id("User", rows.user(i))},
    ),
    Operation(
        "page",
        "20 newest posts with author, comment count, first 3 comments",
        PAGE,
        "Page",
        lambda _i, _rows: {"first": 20, "comments": 3},
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
        expect='"__typename":"AddCommentSuccess"',
        signed_in=True,
        writes=True,
        generated=(("addComment", "comment", "id"),),
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
