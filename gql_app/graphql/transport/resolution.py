"""One operation over a socket, resolved into a sink: what a lone operation (websocket.py)
and a group of shared subscriptions (shared.py) both run.

The operation gets its own context (session, loaders, viewer; DESIGN.md contract 1) and
holds one of the worker's resolving slots (`Context.hold_resolving`) until its first result.
Each result goes to the sink as a payload; the operation ends in the sink exactly once:
`complete` when its stream ends by itself, else `error` (a pre-execution error, a coded
`PublicError`, or anything unexpected: logged in full, masked to the client). A sink that
can take no more raises `SinkClosed`, which ends the operation quietly.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol

from graphql import GraphQLError
from starlette.types import Scope
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from gql_app.core.errors import PublicError
from gql_app.core.resources import Resources
from gql_app.graphql.context import Context, operation_context
from gql_app.graphql.extensions import INTERNAL_SERVER_ERROR
from gql_app.graphql.schema import Schema
from gql_app.http.request_id import fresh_id

logger = logging.getLogger(__name__)


class SinkClosed(Exception):
    """The sink's receiver is gone (its socket closed): the operation ends without a word."""


class Sink(Protocol):
    """Where an operation's results go."""

    async def next(self, payload: dict[str, Any]) -> None: ...

    async def error(self, errors: list[GraphQLError]) -> None: ...

    async def complete(self) -> None: ...


async def resolve(
    schema: Schema,
    resources: Resources,
    scope: Scope,
    authorization: str | None,
    request: dict[str, Any],
    sink: Sink,
) -> None:
    """Run the operation of `request` (a `subscribe` payload) and send its results to `sink`."""
    request_id = fresh_id()
    errors: list[GraphQLError] | None
    try:
        async with operation_context(
            resources, request_id=request_id, authorization=authorization, scope=scope
        ) as context:
            await context.hold_resolving()  # freed by its first result, set-up's end or exit
            errors = await _stream(schema, context, request, sink)
    except SinkClosed:
        return
    except GraphQLError as error:  # a syntax error, raised by the parser's cache
        errors = [error]
    except PublicError as error:
        errors = [GraphQLError(error.message, extensions={"code": error.code})]
    except Exception:
        logger.exception("unexpected error in an operation (request id: %s)", request_id)
        errors = [
            GraphQLError(
                f"Internal server error (request id: {request_id})",
                extensions={"code": INTERNAL_SERVER_ERROR},
            )
        ]
    with contextlib.suppress(SinkClosed):
        if errors is None:
            await sink.complete()
        else:
            await sink.error(errors)


async def _stream(
    schema: Schema, context: Context, request: dict[str, Any], sink: Sink
) -> list[GraphQLError] | None:
    """The stream's results into `sink`; the errors that end it early, if any."""
    stream = await schema.stream(
        request["query"],
        variable_values=request.get("variables"),
        context_value=context,
        operation_name=request.get("operationName"),
        operation_extensions=request.get("extensions"),
    )
    async with aclosing(stream):
        first = True
        async for result in stream:
            if first and isinstance(result, PreExecutionError):
                return list(result.errors or [])
            first = False
            if not isinstance(result, ExecutionResult):
                return [GraphQLError("Incremental delivery is not supported.")]
            await sink.next(payload_of(result))
    return None


def payload_of(result: ExecutionResult) -> dict[str, Any]:
    """A `next` message's payload: data, and errors and extensions when there are any."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload
