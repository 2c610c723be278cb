"""Compiled execution of mutations: graphql-core runs the root fields, compiled plans complete
their payloads.

A mutation's root fields stay stock execution's: graphql-core's executor runs them one after
the other in document order, each resolver with its Strawberry field extensions (the sign-in
check, the payload union's typed errors) and its own `session.begin()`, and it reports their
errors and propagates their nulls. Only the completion of the value a root field's resolver
returned (the payload: a union member, its nodes, their authors) goes through a compiled
plan (gql_app/graphql/execution/), cached per document, operation, values of the
conditional variables and root field. Completion only reads: when its plan cannot run it
(`FallBack`: a field with an extension such as `User.email`'s permission, an error in a
non-null position, ...), what it built is dropped and graphql-core completes the same value
again, so the write is never repeated; that root field's payloads are then completed by
graphql-core until its plan leaves the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from graphql import GraphQLError, GraphQLOutputType, GraphQLResolveInfo
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.executor import CollectedErrors
from graphql.pyutils import Path

from gql_app.core.lru import LRU
from gql_app.graphql.execution.plan import (
    RESOLVER,
    FallBack,
    FieldPlan,
    Group,
    ObjectPlan,
)
from gql_app.graphql.execution.response_size import (
    BoundedExecutor,
    ResponseTooLarge,
    response_budget,
)
from gql_app.graphql.execution.run import Run

logger = logging.getLogger(__name__)
_UNSUPPORTED = "unsupported"  # what the cache holds for a root field stock execution completes


class PayloadPlans:
    """The plans of root fields' payloads, bounded: by (query, operation name, values of the
    conditional variables, root field's response key)."""

    def __init__(self, size: int) -> None:
        self.plans: LRU[tuple[Any, ...], FieldPlan | str] = LRU(size)


class _Errors(CollectedErrors):
    """A run's errors with their positions, so that they can be handed on whole."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[tuple[GraphQLError, Path | None]] = []

    def add(self, error: GraphQLError, path: Path | None) -> None:
        self.positions.append((error, path))


class CompiledPayloadExecutor(BoundedExecutor):
    """Strawberry's executor (leaves counted against the response budget), completing the
    value of each root field of a mutation through a compiled plan (see the module).

    `plans` and `key` (the plan cache's key but for the root field) are set after `build`;
    without them it completes as its base does."""

    plans: PayloadPlans | None = None
    key: tuple[Any, ...] = ()
    strawberry_schema: Any = None

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: list[FieldDetails],
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        stock = partial(
            super().complete_value,
            return_type,
            field_details_list,
            info,
            path,
            result,
            position_context,
        )
        if (
            path.prev is not None  # not a root field
            or return_type is not info.return_type  # the root field's, unwrapped from non-null
            or self.plans is None
            or isinstance(result, Exception)
        ):
            return stock()
        return self._complete_root(stock, field_details_list, info, path, result)

    async def _complete_root(
        self,
        stock: Callable[[], Any],
        field_details_list: list[FieldDetails],
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
    ) -> Any:
        """The completed value of a root field, through its plan if it can run, else as
        `stock` completes it."""
        budget = response_budget(self.context_value)
        remaining = budget.remaining if budget is not None else 0
        try:
            return await self._compiled(field_details_list, info, path, result)
        except ResponseTooLarge:
            raise  # a field error, as stock completion raises it; the response says so
        except Exception as error:
            if not isinstance(error, FallBack):  # a bug of the plans: stock execution answers
                logger.warning("a payload plan failed; stock execution completes it", exc_info=True)
            if budget is not None:
                budget.remaining = remaining  # stock completion counts this value again
            # Stock execution completes this root field from now on (a plan that failed on
            # one request's values only is given up as well: it is only slower).
            if self.plans is not None:
                self.plans.plans.put((*self.key, str(path.key)), _UNSUPPORTED)
        completed = stock()
        return await completed if self.is_awaitable(completed) else completed

    async def _compiled(
        self, details: list[FieldDetails], info: GraphQLResolveInfo[Any], path: Path, result: Any
    ) -> Any:
        run = Run(self, self.strawberry_schema)
        errors = run.errors = _Errors()
        field_plan = self._plan(run, details, info, str(path.key))
        root = Group(ObjectPlan(info.parent_type, [field_plan]), None, None)
        out: dict[str, Any] = {}
        root.sources.append(self.root_value)
        root.outs.append(out)
        following: dict[ObjectPlan, Group] = {}
        run._complete_field(field_plan, root, 0, result, following)
        level = list(following.values())
        while level:
            level = await run._level(level)
        for error, position in errors.positions:
            self.collected_errors.add(error, position)
        return out[field_plan.key]

    def _plan(
        self, run: Run, details: list[FieldDetails], info: GraphQLResolveInfo[Any], key: str
    ) -> FieldPlan:
        """The root field's plan: its completion compiled, its resolver never called."""
        assert self.plans is not None  # noqa: S101 - checked by complete_value
        cache_key = (*self.key, key)
        found = self.plans.plans.get(cache_key)
        if found is None:
            definition = info.parent_type.fields.get(info.field_name)  # None: __typename
            try:
                if definition is None:
                    raise FallBack("a meta field")
                completion = run.compiler._completion(info.return_type, details)
                found = FieldPlan(
                    key,
                    info.field_name,
                    RESOLVER,
                    details,
                    [detail.node for detail in details],
                    definition,
                    info.parent_type,
                    None,
                    completion,
                )
            except FallBack:
                found = _UNSUPPORTED
            self.plans.plans.put(cache_key, found)
        if not isinstance(found, FieldPlan):
            raise FallBack("a payload stock execution completes")
        return found


__all__ = ["CompiledPayloadExecutor", "PayloadPlans"]
