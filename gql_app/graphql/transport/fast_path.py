"""The fast path: a query document the schema has already validated, served without
FastAPI's routing and dependencies or Strawberry's HTTP view and extension pipeline.

Measured on the benchmark's one-field query, that machinery was most of a small request's
CPU. A request takes the fast path when all of this holds; otherwise its body is handed, as
it came, to the full path (the `/graphql` router), which answers exactly as it always does:

- `POST` to the endpoint, `Content-Type: application/json` in UTF-8, an `Accept` that
  negotiates to a JSON media type (no streaming transport);
- the body is a JSON object with a string `query`, an optional string `operationName`,
  optional object `variables` and no `extensions`;
- the full path has parsed and validated this query text before, every rule passing
  (`QueryCaches.valid`), and
  the operation to run is a query or a mutation (mutations: gql_app/graphql/transport/
  fast_mutation.py, which never hands back one that began to run);
- the operation is within the query limits for these variables (cost, depth, aliases: the
  tokens were counted when the text was first parsed);
- compiled execution (`COMPILED_EXECUTION`) is on. What it hands back (unrun, or having
  only read) runs as Strawberry runs it: graphql-core's executor (the schema's extensions
  have no resolver middleware, so none is lost).

Such a request gets the same context (session, loaders, viewer, request id) and the same
response as on the full path: `data`, its field errors masked as the full path masks them
(gql_app/graphql/extensions.py), `extensions.cost`, 200 and the negotiated media type.
"""

from __future__ import annotations

import logging
from inspect import isawaitable
from typing import Any

import orjson
from graphql import OperationType, execute, get_operation_ast
from starlette.types import ASGIApp, Receive, Scope, Send

from gql_app.core.config import Settings
from gql_app.core.lru import LRU
from gql_app.core.resources import resources_of
from gql_app.graphql.context import Context, operation_context
from gql_app.graphql.execution.cache import execute_compiled
from gql_app.graphql.limits import (
    cost_extension,
    query_limits,
    violations,
)
from gql_app.graphql.observation import observe_cost, observe_operation, observe_result
from gql_app.graphql.schema import Schema
from gql_app.graphql.transport.fast_mutation import Answer, FastMutations, formatted_errors
from gql_app.graphql.transport.http import (
    JSON,
    SpecGraphQLRouter,
    content_type,
    failed_before_execution,
    negotiate_media_type,
)
from gql_app.http.headers import header
from gql_app.http.messages import Replay, received
from gql_app.http.request_id import request_id_of

logger = logging.getLogger(__name__)
_RESPONSE_TYPES = 64  # remembered pairs of Content-Type and Accept headers


class FastQueryPath:
    """A pure ASGI middleware in front of the app: serves what it can (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        router: SpecGraphQLRouter[Context, None],
        settings: Settings,
        path: str,
    ) -> None:
        schema = router.schema
        if not isinstance(schema, Schema) or schema.caches is None:
            raise TypeError("the router's schema has no query caches (build_schema(settings))")
        caches = schema.caches
        self.app = app
        self.router = router
        self.schema = schema
        self.caches = caches
        self.settings = settings
        self.limits = query_limits(settings)
        self.path = path
        self._response_types: LRU[tuple[str | None, str | None], bytes] = LRU(_RESPONSE_TYPES)
        self.mutations = FastMutations(
            router=router, schema=schema, settings=settings, limits=self.limits
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        response_type = self._response_type(
            header(scope, b"content-type"), header(scope, b"accept")
        )
        if not response_type:
            await self.app(scope, receive, send)
            return
        request = await received(receive)
        response = await self._serve(scope, request)
        if response is None:
            await self.app(scope, request, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response_type),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"vary", b"Accept"),
                    *response.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    def _response_type(self, content_type_header: str | None, accept: str | None) -> bytes:
        """The response's `Content-Type`, when the request's headers allow the fast path;
        else empty. Remembered per pair of headers: clients send the same few."""
        key = (content_type_header, accept)
        found = self._response_types.get(key)
        if found is None:
            json_body = content_type(content_type_header) in ((JSON, None), (JSON, "utf-8"))
            streams = self.router.wants_stream({"accept": accept or ""})
            media_type = negotiate_media_type(accept) if json_body and not streams else None
            found = f"{media_type}; charset=utf-8".encode() if media_type else b""
            self._response_types.put(key, found)
        return found

    async def _serve(self, scope: Scope, request: Replay) -> Answer | None:
        """The response body, or None: the full path answers."""
        parameters = request.parameters  # what the persisted documents' middleware parsed
        if parameters is None:
            try:
                parameters = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                return None
        if type(parameters) is not dict:
            return None
        query = parameters.get("query")
        operation_name = parameters.get("operationName")
        variables = parameters.get("variables")
        if (
            type(query) is not str
            or (operation_name is not None and type(operation_name) is not str)
            or (variables is not None and type(variables) is not dict)
            or parameters.get("extensions") is not None
        ):
            return None
        document = self.caches.valid.get(query)
        if document is None:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is OperationType.SUBSCRIPTION:
            return None
        measure = self.caches.measures.measure(
            self.schema._schema,
            query,
            document,
            operation,
            variables,
            self.limits,
        )
        if violations(measure, self.limits):
            return None
        name = operation.name.value if operation.name else None
        observe_operation(query, name, operation.operation.value)
        observe_cost(measure.cost)
        if operation.operation is OperationType.MUTATION:
            return await self.mutations.serve(
                scope, query, document, operation_name, variables, measure
            )
        try:
            async with operation_context(
                resources_of(scope),
                request_id=request_id_of(scope),
                authorization=header(scope, b"authorization"),
                scope=scope,
            ) as context:
                result = await execute_compiled(
                    self.caches.plans,
                    self.schema,
                    query,
                    document,
                    operation_name,
                    variables,
                    context,
                )
                if result is None:  # what Strawberry runs when compiled execution hands it back
                    executed = execute(
                        self.schema._schema,
                        document,
                        context_value=context,
                        variable_values=variables,
                        operation_name=operation_name,
                        executor_class=self.schema.execution_context_class,
                    )
                    result = await executed if isawaitable(executed) else executed
        except Exception:
            # Nothing was written (queries only read): the full path answers, as it would.
            logger.exception("the fast path failed; the full path answers the request")
            return None
        if failed_before_execution(result):
            return None  # variables that do not coerce: the full path reports them
        observe_result(result.errors)
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = formatted_errors(result.errors, context.request_id, self.settings)
        response["extensions"] = {"cost": cost_extension(self.limits, measure)}
        try:
            return Answer(orjson.dumps(response))
        except TypeError:
            return None  # what orjson cannot write (integers beyond 64 bits)


__all__ = ["FastQueryPath"]
