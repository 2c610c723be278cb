"""Mutations on the fast path (gql_app/graphql/transport/fast_path.py), as the full path runs
them, without FastAPI's routing and Strawberry's view and extension pipeline.

The fast path hands a mutation here once it has done what it does for a query: the request
is a `POST` of `application/json` in UTF-8 (what the full path's cross-site rules accept:
anything else, and every `GET`, still goes to the full path, which refuses it as before),
its text passed validation before, and it is within the query limits. Then:

- before anything runs, graphql-core's executor is built: variables that do not coerce
  (or a context that cannot be made) hand the request to the full path, which reports
  them; nothing has been run, so nothing runs twice;
- from the first resolver on the request is answered here, whatever happens: a mutation
  never runs twice. Its root fields run as stock execution runs them (the same executor
  Strawberry uses, `BoundedExecutor`: serially, in document order, each field's resolver
  with its field extensions: the sign-in check, the payload union's typed errors, its own
  `session.begin()` and the stale-statement rerun of `RequestSession.run`, its events
  published in its transaction). An exception out of the executor itself is answered as
  Strawberry answers it: a masked request error, no `data`;
- what the full path's schema extensions add is added: errors masked
  (gql_app/graphql/extensions.py), suggestions hidden when off, `extensions.cost`, the
  observability hooks (gql_app/graphql/observation.py), and with replicas the primary for
  every read and the commit position after the writes in `extensions.readAfter` and the
  `X-Read-After` header (gql_app/graphql/read_after.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLFormattedError,
)
from graphql.execution.executor import UNEXPECTED_MULTIPLE_PAYLOADS
from starlette.types import Scope

from gql_app.core.config import Settings
from gql_app.core.resources import resources_of
from gql_app.graphql.context import Context, operation_context
from gql_app.graphql.cost import Measure
from gql_app.graphql.execution.mutations import CompiledPayloadExecutor, PayloadPlans
from gql_app.graphql.extensions import public_error
from gql_app.graphql.limits import (
    QueryLimits,
    cost_extension,
    without_suggestion,
)
from gql_app.graphql.observation import observe_result
from gql_app.graphql.read_after import READ_AFTER_HEADER, position_after_writes
from gql_app.graphql.schema import Schema
from gql_app.graphql.transport.http import (
    GRAPHQL_RESPONSE_JSON,
    SpecGraphQLRouter,
    failed_before_execution,
    negotiate_media_type,
)
from gql_app.http.headers import header
from gql_app.http.request_id import request_id_of

logger = logging.getLogger(__name__)
_READ_AFTER = READ_AFTER_HEADER.lower().encode()


@dataclass(frozen=True, slots=True)
class Answer:
    """The fast path's response: its body, status and the headers beyond the usual ones."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[bytes, bytes], ...] = ()


def formatted_errors(
    errors: list[GraphQLError], request_id: str, settings: Settings
) -> list[GraphQLFormattedError]:
    """`errors` as the client sees them: masked, and without suggestions unless enabled."""
    public = [public_error(error, request_id) for error in errors]
    if not settings.field_suggestions_enabled:
        public = [without_suggestion(error) for error in public]
    return [error.formatted for error in public]


def _failed(error: Exception) -> ExecutionResult:
    """The result Strawberry makes of an exception out of execution: a request error."""
    if isinstance(error, GraphQLError):
        return ExecutionResult(None, [error])
    return ExecutionResult(None, [GraphQLError(str(error), original_error=error)])


class FastMutations:
    """Serves the mutations the fast path hands over (see the module)."""

    def __init__(
        self,
        *,
        router: SpecGraphQLRouter[Context, None],
        schema: Schema,
        settings: Settings,
        limits: QueryLimits,
    ) -> None:
        self.router = router
        self.schema = schema
        self.settings = settings
        self.limits = limits
        self.read_your_writes = bool(settings.replica_urls)
        if schema.caches is None:
            raise TypeError("the schema has no query caches (build_schema(settings))")
        self.conditions = schema.caches.plans
        self.payloads = PayloadPlans(settings.query_cache_size)

    async def serve(
        self,
        scope: Scope,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        measure: Measure,
    ) -> Answer | None:
        """The answer, or None when nothing ran and the full path answers."""
        ran: tuple[ExecutionResult, str | None] | None = None
        started = False  # from here on the mutation may have written: it is answered here
        request_id = request_id_of(scope)
        try:
            async with operation_context(
                resources_of(scope),
                request_id=request_id,
                authorization=header(scope, b"authorization"),
                scope=scope,
            ) as context:
                executor = CompiledPayloadExecutor.build(
                    self.schema._schema,
                    document,
                    context_value=context,
                    raw_variable_values=variables,
                    operation_name=operation_name,
                    operation_extensions=None,
                )
                if not isinstance(executor, CompiledPayloadExecutor):
                    return None  # variables that do not coerce: the full path reports them
                self._compile_payloads(executor, query, document, operation_name)
                started = True
                ran = await self._run(executor, context)
        except Exception as error:
            if not started:
                logger.exception("the fast path failed; the full path answers the mutation")
                return None
            if ran is None:  # what Strawberry answers for an exception out of execution
                logger.exception("the mutation failed outside its fields")
                ran = _failed(error), None
            else:
                logger.exception("closing a mutation's session failed; its response stands")
        assert ran is not None  # noqa: S101 - returned above unless it started
        return self._answer(scope, request_id, measure, *ran)

    def _compile_payloads(
        self,
        executor: CompiledPayloadExecutor,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
    ) -> None:
        """Let `executor` complete payloads through the plans of this document and operation
        and the values of its conditional variables."""
        coerced = executor.variable_values.coerced
        conditions = self.conditions.conditional_variables(query, document)
        executor.plans = self.payloads
        executor.strawberry_schema = self.schema
        executor.key = (query, operation_name, tuple(bool(coerced.get(n)) for n in conditions))

    async def _run(self, executor: Any, context: Context) -> tuple[ExecutionResult, str | None]:
        """Execute the mutation and find the commit position after its writes; never raises
        but what cancels it."""
        if self.read_your_writes:
            context.db.use_primary()
        try:
            executed = executor.execute_operation()
            result = await executed if isawaitable(executed) else executed
            if not isinstance(result, ExecutionResult):  # pragma: no cover - no @defer
                raise GraphQLError(UNEXPECTED_MULTIPLE_PAYLOADS)
        except Exception as error:  # noqa: BLE001 - what Strawberry answers for it
            result = _failed(error)
        finally:
            # Its cycle through `async_helpers` would keep the context alive for the
            # collector (gql_app/graphql/execution/cache.py).
            del executor.async_helpers
        if not self.read_your_writes:
            return result, None
        try:
            return result, await position_after_writes(context)
        except Exception:
            logger.exception("no commit position for the mutation's response")
            return result, None

    def _answer(
        self,
        scope: Scope,
        request_id: str,
        measure: Measure,
        result: ExecutionResult,
        position: str | None,
    ) -> Answer:
        observe_result(result.errors)
        failed = failed_before_execution(result)
        response: dict[str, Any] = {} if failed else {"data": result.data}
        if result.errors:
            response["errors"] = formatted_errors(result.errors, request_id, self.settings)
        extensions: dict[str, Any] = {"cost": cost_extension(self.limits, measure)}
        if position is not None:
            extensions["readAfter"] = position
        response["extensions"] = extensions
        body = self.router.encode_json(response)
        status = 200
        if failed and negotiate_media_type(header(scope, b"accept")) == GRAPHQL_RESPONSE_JSON:
            status = 400
        return Answer(
            body if isinstance(body, bytes) else body.encode(),
            status,
            ((_READ_AFTER, position.encode()),) if position is not None else (),
        )


__all__ = ["Answer", "FastMutations", "formatted_errors"]
