"""The plan cache and the entry points: `execute_compiled` and the schema extension that uses it."""

from __future__ import annotations

from typing import Any

from graphql import (
    ExecutionResult,
)
from graphql.language import DocumentNode
from strawberry.extensions import SchemaExtension

from gql_app.core.lru import LRU
from gql_app.graphql.execution.compiler import conditional_variables
from gql_app.graphql.execution.plan import FallBack, ObjectPlan
from gql_app.graphql.execution.response_size import ResponseTooLarge, response_budget
from gql_app.graphql.execution.run import Run

UNSUPPORTED = "unsupported"  # what the plan cache holds for operations stock execution runs


class PlanCache:
    """Plans by (query, operation name, values of the conditional variables), bounded."""

    def __init__(self, size: int) -> None:
        self.plans: LRU[tuple[Any, ...], ObjectPlan | str] = LRU(size)
        self.conditions: LRU[str, tuple[str, ...]] = LRU(size)

    def conditional_variables(self, query: str, document: DocumentNode) -> tuple[str, ...]:
        found = self.conditions.get(query)
        if found is None:
            found = conditional_variables(document)
            self.conditions.put(query, found)
        return found


async def execute_compiled(
    cache: PlanCache,
    strawberry_schema: Any,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    root_value: Any = None,
) -> ExecutionResult | None:
    """Run a validated operation through its cached plan; None when stock execution must
    run it (see the module), having run nothing or only read."""
    built = strawberry_schema.execution_context_class.build(
        strawberry_schema._schema,
        document,
        root_value=root_value,
        context_value=context,
        raw_variable_values=variables,
        operation_name=operation_name,
        operation_extensions=None,
    )
    if isinstance(built, list):
        return None  # stock execution reports the same errors
    coerced = built.variable_values.coerced
    budget = response_budget(context)
    conditions = cache.conditional_variables(query, document)
    key = (query, operation_name, tuple(bool(coerced.get(n)) for n in conditions))
    try:
        run = Run(built, strawberry_schema)
        plan = cache.plans.get(key)
        if plan is None:
            try:
                plan = run.compiler.root()
            except FallBack:
                plan = UNSUPPORTED
            cache.plans.put(key, plan)
        if not isinstance(plan, ObjectPlan):
            return None
        try:
            return await run.execute(plan)
        except ResponseTooLarge:
            assert budget is not None  # noqa: S101 - only a budget raises it
            return budget.result()
        except FallBack:
            if budget is not None:
                budget.reset()  # stock execution counts the response again
            return None
    finally:
        # graphql-core's executor refers to itself (through its `async_helpers`), so only the
        # cyclic garbage collector would free it, and with it the context: the request's
        # loaders and every row they read. Broken here, all of it goes when the request ends.
        del built.async_helpers


def compiled_execution(cache: PlanCache) -> type[SchemaExtension]:
    """The schema extension that runs supported queries through the plans of `cache`."""

    class CompiledExecution(SchemaExtension):
        async def on_execute(self) -> Any:  # an async generator, as Strawberry's hooks take
            context = self.execution_context
            document = context.graphql_document
            if context.result is None and document is not None and context.query is not None:
                result = await execute_compiled(
                    cache,
                    context.schema,
                    context.query,
                    document,
                    context.operation_name,
                    context.variables,
                    context.context,
                    context.root_value,
                )
                if result is not None:
                    context.result = result
            yield

    return CompiledExecution
