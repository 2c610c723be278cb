"""Read-your-writes across requests, with replicas (DESIGN.md contract 13).

A mutation reads the primary only, every unit of it. The response of an operation that
wrote carries the primary's commit position after its writes, in `extensions.readAfter`
and the `X-Read-After` response header; a client that sends it back as the `X-Read-After`
request header has its reads served by a replica that replayed that far, or by the
primary (gql_app/graphql/context.py reads the header, gql_app/db/session.py routes).
Without replicas (or on SQLite) the schema has no such extension and nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gql_app.core.errors import PublicError
from gql_app.graphql.context import Context

logger = logging.getLogger(__name__)
READ_AFTER_HEADER = "X-Read-After"


class ReadYourWrites(SchemaExtension):
    """Sends a mutation's reads to the primary, and reports the commit position of writes."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and (
            self.execution_context.operation_type is OperationType.MUTATION
        ):
            context.db.use_primary()
        yield

    async def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return {}
        position = await position_after_writes(context)
        if position is None:
            return {}
        if context.response is not None:
            context.response.headers[READ_AFTER_HEADER] = position
        return {"readAfter": position}


async def position_after_writes(context: Context) -> str | None:
    """The primary's commit position after the operation's writes; None when it wrote
    nothing, without replicas, or when the primary cannot tell (the writes' response
    stands). The full path's extension and the fast path's mutations report it alike."""
    if not context.db.wrote:
        return None
    try:
        return await context.db.commit_position()
    except PublicError as exc:  # the primary just went away: the writes' response stands
        logger.warning("no commit position for the response: %s", exc)
        return None
