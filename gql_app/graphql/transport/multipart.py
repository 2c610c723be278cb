"""Multipart subscriptions end when their token does (issue 14).

A multipart subscription (`Accept: multipart/mixed;subscriptionSpec=1.0`) sent with the live
token of a user is watched like a socket (revocation.py): once the token is revoked
(`logout`, `changePassword`), expires, or its user is deleted, the stream ends within
`WS_AUTH_RECHECK_SECONDS` with a last part in Apollo's format for transport errors,
`{"payload": null, "errors": [{..., "extensions": {"code": "NOT_AUTHENTICATED"}}]}`, and the
closing boundary. A token that was not live to begin with made the request anonymous, as
over HTTP: there is nothing to revoke.

Every multipart subscription counts in the subscription metrics as a socket's does: active
while it streams, each event it hands to the transport delivered (`counted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextvars import ContextVar
from typing import Any, Final, cast

from starlette.types import Scope
from strawberry.http.streaming import (
    HTTPStreamTransport,
    JSONEncoder,
    MultipartSubscriptionTransport,
)
from strawberry.types import SubscriptionExecutionResult

from gql_app.core.errors import PublicError
from gql_app.core.observability import count_event_delivered, count_subscriptions
from gql_app.graphql.context import Context
from gql_app.graphql.transport.revocation import (
    Revocations,
    aclose,
    revocations_of,
    until_revoked,
)

# The code of a request whose token is not (or no longer) live; the mutations' typed
# answer to it is `NotAuthenticated`.
NOT_AUTHENTICATED: Final = "NOT_AUTHENTICATED"
_REVOKED: Final = {
    "payload": None,
    "errors": [
        {
            "message": "The token was revoked or expired: the subscription ended.",
            "extensions": {"code": NOT_AUTHENTICATED},
        }
    ],
}

# The context of the streaming request being set up: set by the router's `run`, read when
# Strawberry makes the stream (which it does without the context).
streaming_context: ContextVar[Context | None] = ContextVar("streaming_context", default=None)


class _EndedByRevocation(MultipartSubscriptionTransport):
    """The multipart transport, whose closing boundary follows the error part when the
    token was revoked."""

    def __init__(self, revoked: asyncio.Event, encode_json: JSONEncoder) -> None:
        super().__init__()
        self._revoked = revoked
        self._encode_json = encode_json

    def encode_complete(self) -> str:
        end = super().encode_complete()
        if self._revoked.is_set():
            return self.encode_multipart_data(_REVOKED, self._encode_json) + end
        return end


def revocable(
    scope: Scope,
    result: SubscriptionExecutionResult,
    transport: HTTPStreamTransport,
    encode_json: JSONEncoder,
) -> tuple[SubscriptionExecutionResult, HTTPStreamTransport]:
    """The results and transport of a streaming request: watched for revocation when it is a
    multipart subscription sent with a token."""
    context = streaming_context.get()
    if (
        context is None
        or context.token_hash is None
        or not isinstance(transport, MultipartSubscriptionTransport)
    ):
        return result, transport
    revoked = asyncio.Event()
    watched = _watched(revocations_of(scope), context, context.token_hash, result, revoked)
    return cast(SubscriptionExecutionResult, watched), _EndedByRevocation(revoked, encode_json)


async def _watched(
    revocations: Revocations,
    context: Context,
    token_hash: str,
    result: SubscriptionExecutionResult,
    revoked: asyncio.Event,
) -> AsyncGenerator[Any, None]:
    try:
        anonymous = await context.viewer() is None
    except PublicError:  # the database could not tell: the next check will
        anonymous = False
    source = result if anonymous else until_revoked(revocations, token_hash, result, revoked)
    try:
        async for item in source:
            yield item
    finally:
        await aclose(source)


async def counted(result: SubscriptionExecutionResult) -> AsyncGenerator[Any, None]:
    """`result`, an active subscription while it streams; each event (a result with data,
    not an error alone) delivered once the transport took it and asks for the next."""
    count_subscriptions(1)
    try:
        async for item in result:
            yield item
            if getattr(item, "data", None) is not None:
                count_event_delivered()
    finally:
        count_subscriptions(-1)
        await aclose(result)
