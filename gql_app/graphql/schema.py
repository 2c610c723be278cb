"""The schema: Query, Mutation and Subscription roots, with error masking.

`gql-app export-schema` prints it.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from gql_app.core.config import Settings
from gql_app.graphql.accounts import AccountMutation
from gql_app.graphql.execution.response_size import BoundedExecutor
from gql_app.graphql.extensions import MaskUnexpectedErrors, PreExecutionCodes, public_error
from gql_app.graphql.limits import batching_config, hardening_extensions
from gql_app.graphql.mutation import ContentMutation
from gql_app.graphql.observation import ObserveOperation
from gql_app.graphql.performance import QueryCaches, performance_extensions
from gql_app.graphql.query import Query
from gql_app.graphql.read_after import ReadYourWrites
from gql_app.graphql.subscription import EventResolved, Subscription
from gql_app.graphql.types import Comment, Post, User
from gql_app.graphql.unreadable import RefuseOverlongIntegers

# Each part of the API contributes its mutation type here.
Mutation = merge_types("Mutation", (ContentMutation, AccountMutation))
Mutation.__strawberry_definition__.description = "What can be changed."  # type: ignore[attr-defined]


class Schema(strawberry.Schema):
    # Parsed, validated and compiled queries (gql_app/graphql/performance.py); None
    # without settings.
    caches: QueryCaches | None = None

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Mask the unexpected errors in place (`public_error` logs each, with its request
        id); expected ones (a bad cursor, a failed validation) are not worth a line.

        `MaskUnexpectedErrors` masks every result too, but an exception out of execution
        itself ends its hook before it runs: Strawberry then answers with the errors given
        here, which would otherwise carry the exception's own message."""
        context = execution_context.context if execution_context is not None else None
        request_id = getattr(context, "request_id", "none")
        errors[:] = [public_error(error, request_id) for error in errors]


def build_schema(settings: Settings | None = None) -> Schema:
    """The schema, with the limits and switches of `settings` (gql_app/graphql/limits.py)
    and its caches and compiled execution (gql_app/graphql/performance.py).

    Without settings it has neither (its SDL is the same): `gql-app export-schema` prints it.
    """
    caches = QueryCaches(settings.query_cache_size) if settings else None
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Post, Comment],
        extensions=[
            MaskUnexpectedErrors,
            ObserveOperation,
            PreExecutionCodes,
            EventResolved,
            RefuseOverlongIntegers,
            *(hardening_extensions(settings) if settings else ()),
            *((ReadYourWrites,) if settings and settings.replica_urls else ()),
            *(performance_extensions(settings, caches) if settings and caches else ()),
        ],
        config=StrawberryConfig(batching_config=batching_config(settings) if settings else None),
        execution_context_class=BoundedExecutor,
    )
    built.caches = caches
    return built


schema = build_schema()
