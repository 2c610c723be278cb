"""The schema: Query and Mutation roots, with error masking (`gql-app export-schema` prints it)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from gql_app.graphql.accounts import AccountMutation
from gql_app.graphql.extensions import MaskUnexpectedErrors
from gql_app.graphql.mutation import ContentMutation
from gql_app.graphql.query import Query
from gql_app.graphql.types import Comment, Post, User

# Each part of the API contributes its mutation type here.
Mutation = merge_types("Mutation", (ContentMutation, AccountMutation))
Mutation.__strawberry_definition__.description = "What can be changed."  # type: ignore[attr-defined]


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: `MaskUnexpectedErrors` logs each unexpected error, with its
        request id; expected ones (a bad cursor, a failed validation) are not worth a line."""


schema = Schema(
    query=Query,
    mutation=Mutation,
    types=[User, Post, Comment],
    extensions=[MaskUnexpectedErrors],
)
