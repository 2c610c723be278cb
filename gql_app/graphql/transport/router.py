"""The `/graphql` endpoint: the schema over HTTP and WebSocket, with the per-operation context."""

from __future__ import annotations

from fastapi.routing import APIWebSocketRoute
from strawberry.subscriptions import MULTIPART_SUBSCRIPTION_PROTOCOL

from gql_app.core.config import Settings
from gql_app.graphql.context import Context, get_context
from gql_app.graphql.schema import build_schema
from gql_app.graphql.transport.http import SpecGraphQLRouter
from gql_app.graphql.transport.websocket import SocketTransport


def create_graphql_router(settings: Settings) -> SpecGraphQLRouter[Context, None]:
    """The GraphQL router; GraphiQL per `GRAPHIQL`; subscriptions over multipart HTTP.

    WebSockets go to `SocketTransport` (gql_app/graphql/transport/websocket.py), not to
    Strawberry's handlers: those give every operation of a connection one context (session
    and loaders), which would break DESIGN.md contract 1.
    """
    schema = build_schema(settings)
    router: SpecGraphQLRouter[Context, None] = SpecGraphQLRouter(
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        # Multipart subscriptions (what Apollo Client's HttpLink speaks), streamed by Strawberry
        # with the request's one context: its events renew their sessions (subscription.py).
        subscription_protocols=(MULTIPART_SUBSCRIPTION_PROTOCOL,),
    )
    router.routes[:] = [
        route for route in router.routes if not isinstance(route, APIWebSocketRoute)
    ]
    router.add_api_websocket_route("", SocketTransport(schema).endpoint)
    return router
