"""The `/graphql` endpoint: the schema over HTTP, with the per-request context."""

from __future__ import annotations

from gql_app.core.config import Settings
from gql_app.graphql.context import Context, get_context
from gql_app.graphql.schema import build_schema
from gql_app.graphql.transport.http import SpecGraphQLRouter


def create_graphql_router(settings: Settings) -> SpecGraphQLRouter[Context, None]:
    """The GraphQL router; GraphiQL per `GRAPHIQL`.

    No WebSocket protocols: the schema has no subscriptions, and a context (session and
    loaders) shared by every operation of a connection would break DESIGN.md contract 1.
    """
    return SpecGraphQLRouter(
        build_schema(settings),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        subscription_protocols=(),
    )
