"""Compiled execution of queries: the same result as graphql-core's executor, much faster.

graphql-core completes a result field by field: a resolve info, a resolver call through
Strawberry's wrappers (argument conversion, extensions), an asyncio task per async
resolver and a type dispatch per value. For ~9,000 fields that is most of a large
request's CPU. Here a validated query is compiled once (cached by document, operation
name and the values of the variables its `@skip`/`@include` read) into a plan of its
selection sets; a run then walks the result one depth at a time over every object of that
depth together:

- plain attribute fields are read with `getattr`, `__typename` is a constant;
- resolvers are Strawberry's own functions, called with arguments converted once per
  request (not once per object) and one shared `Info` per field;
- the coroutines of one depth run together, so their DataLoader calls land in the same
  batch, as they do under graphql-core;
- values are completed as graphql-core completes them: the same coercion of leaves, type
  checks, error messages, error locations and paths; an error in a nullable field or list
  item nulls it and is reported there.

Anything else falls back to stock execution: mutations and subscriptions, introspection,
`@defer`/`@stream`, fields with Strawberry field extensions or permission classes,
resolvers that read `info.path`, awaitables where graphql-core would accept them but a
plan does not (in lists, from type resolvers), and an error in a non-null position (which
of the other errors graphql-core still reports once the null propagates depends on the
order its tasks ran in). A query that falls back while running only
read: stock execution then runs it again from the start, with the same loaders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationType,
    Undefined,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields
from graphql.execution.executor import CollectedErrors, Executor, invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.language import ArgumentNode, DirectiveNode, DocumentNode, VariableNode, visit
from graphql.language.visitor import Visitor
from graphql.pyutils import Path, inspect, is_iterable
from strawberry.extensions import SchemaExtension
from strawberry.types import Info
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from gql_app.lru import LRU

DEFINITION_KEY = "strawberry-definition"
CONDITIONAL_DIRECTIVES = ("skip", "include")


class FallBack(Exception):
    """The plan cannot run this operation: stock execution runs it instead."""


class PlanInfo(Info):
    """The `Info` resolvers get from a plan: one per field and request, so it has no path."""

    @property
    def path(self) -> Path:
        raise FallBack("a resolver read info.path")


# How a field gets its value.
TYPENAME, ATTRIBUTE, RESOLVER = range(3)
# How a value is completed.
LEAF, LIST, OBJECT, ABSTRACT = range(4)


@dataclass(eq=False, slots=True)
class Completion:
    """How the values of one output type are completed (a list's items have their own)."""

    kind: int
    nullable: bool
    type: Any  # the named type, or the GraphQLList
    item: Completion | None = None
    object: ObjectPlan | None = None
    details: list[FieldDetails] | None = None  # abstract types: subfields per runtime type
    runtime: dict[str, ObjectPlan] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class FieldPlan:
    key: str
    name: str
    kind: int
    details: list[FieldDetails]
    nodes: list[FieldNode]
    definition: GraphQLField | None
    parent_type: GraphQLObjectType
    strawberry_field: StrawberryField | None
    completion: Completion | None


@dataclass(eq=False, slots=True)
class ObjectPlan:
    type: GraphQLObjectType
    fields: list[FieldPlan]


class Item:
    """An object of the result being built: its source value, its dict and its path."""

    __slots__ = ("out", "path", "source")

    def __init__(self, source: Any, out: dict[str, Any], path: Path | None) -> None:
        self.source = source
        self.out = out
        self.path = path


class Compiler:
    """Builds the plan of one operation from an executor graphql-core built for it."""

    def __init__(self, executor: Executor[Any]) -> None:
        self.executor = executor
        self.schema = executor.schema

    def root(self) -> ObjectPlan:
        operation = self.executor.operation
        if operation.operation is not OperationType.QUERY:
            raise FallBack("not a query")
        root_type = self.schema.query_type
        if root_type is None:  # pragma: no cover - the schema has a query type
            raise FallBack("no query type")
        collected = collect_fields(
            self.schema,
            self.executor.fragments,
            self.executor.variable_values,
            root_type,
            operation,
            self.executor.hide_suggestions,
        )
        return self._object(root_type, collected)

    def subfields(self, object_type: GraphQLObjectType, details: list[FieldDetails]) -> ObjectPlan:
        return self._object(object_type, self.executor.collect_subfields(object_type, details))

    def _object(self, object_type: GraphQLObjectType, collected: Any) -> ObjectPlan:
        grouped, new_defer_usages = collected[0], collected[1]
        if new_defer_usages:
            raise FallBack("@defer")
        fields = [self._field(object_type, key, list(group)) for key, group in grouped.items()]
        return ObjectPlan(object_type, fields)

    def _field(self, parent: GraphQLObjectType, key: str, details: list[FieldDetails]) -> FieldPlan:
        nodes = [detail.node for detail in details]
        name = nodes[0].name.value
        if any(detail.fragment_variable_values for detail in details):
            raise FallBack("fragment variables")
        if any(
            directive.name.value not in CONDITIONAL_DIRECTIVES
            for node in nodes
            for directive in node.directives or ()
        ):
            raise FallBack("a directive other than @skip or @include")
        if name == "__typename":
            return FieldPlan(key, name, TYPENAME, details, nodes, None, parent, None, None)
        definition = parent.fields.get(name)
        strawberry_field = definition.extensions.get(DEFINITION_KEY) if definition else None
        if definition is None or not isinstance(strawberry_field, StrawberryField):
            raise FallBack(f"field {parent.name}.{name} is not a Strawberry field")
        if strawberry_field.extensions or strawberry_field.permission_classes:
            raise FallBack(f"field {parent.name}.{name} has field extensions")
        kind = RESOLVER if strawberry_field.base_resolver else ATTRIBUTE
        if kind is ATTRIBUTE and strawberry_field.default_resolver is not getattr:
            raise FallBack("a default resolver other than getattr")
        completion = self._completion(definition.type, details)
        return FieldPlan(
            key, name, kind, details, nodes, definition, parent, strawberry_field, completion
        )

    def _completion(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Completion:
        nullable = not is_non_null_type(type_)
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if is_list_type(named):
            item = self._completion(named.of_type, details)
            return Completion(LIST, nullable, named, item=item)
        if is_leaf_type(named):
            return Completion(LEAF, nullable, named)
        if is_object_type(named):
            return Completion(OBJECT, nullable, named, object=self.subfields(named, details))
        if is_abstract_type(named):
            return Completion(ABSTRACT, nullable, named, details=details)
        raise FallBack(f"unknown output type {named}")  # pragma: no cover


def conditional_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables that `@skip`/`@include` read: a plan holds for one set of their values."""
    found: dict[str, None] = {}

    class Finder(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value in CONDITIONAL_DIRECTIVES:
                for argument in node.arguments or ():
                    if isinstance(argument, ArgumentNode) and isinstance(
                        argument.value, VariableNode
                    ):
                        found[argument.value.name.value] = None

    visit(document, Finder())
    return tuple(found)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def drive(coroutines: list[Coroutine[Any, Any, Any]]) -> list[tuple[bool, Any]]:
    """Run the coroutines of one depth together: (ok, value or error) of each.

    Each runs in a task of its own, as under graphql-core: `asyncio.timeout` (the pool's
    checkout timeout) cancels the current task, so a coroutine must be one. Their
    DataLoader calls land in the same batch.
    """
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    return [(not isinstance(result, BaseException), result) for result in results]


class Run:
    """One execution of a plan: builds the data and collects the errors."""

    def __init__(self, executor: Executor[Any], strawberry_schema: Any) -> None:
        self.executor = executor
        self.strawberry_schema = strawberry_schema
        self.compiler = Compiler(executor)
        self.errors = CollectedErrors()
        self.box: dict[str, Any] = {"data": {}}
        self.calls: dict[FieldPlan, tuple[list[str], dict[str, Any]]] = {}
        self.infos: dict[FieldPlan, Any] = {}

    async def execute(self, plan: ObjectPlan) -> ExecutionResult:
        root = Item(self.executor.root_value, self.box["data"], None)
        level: dict[ObjectPlan, list[Item]] = {plan: [root]}
        while level:
            level = await self._level(level)
        errors = self.errors.errors
        return ExecutionResult(self.box["data"], errors or None)

    async def _level(self, level: dict[ObjectPlan, list[Item]]) -> dict[ObjectPlan, list[Item]]:
        """Resolve every field of every object of one depth; the objects of the next."""
        following: dict[ObjectPlan, list[Item]] = {}
        pending: list[tuple[FieldPlan, Item]] = []
        coroutines: list[Coroutine[Any, Any, Any]] = []
        try:
            self._resolve(level, following, pending, coroutines)
        except BaseException:
            for coroutine in coroutines:  # never started: closing runs none of their code
                coroutine.close()
            raise
        if coroutines:
            outcomes = await drive(coroutines)
            for (field_plan, item), (ok, value) in zip(pending, outcomes, strict=True):
                if isinstance(value, FallBack):
                    raise value
                if ok:
                    self._complete_field(field_plan, item, value, following)
                else:
                    self._field_error(value, field_plan, item)
        return following

    def _resolve(
        self,
        level: dict[ObjectPlan, list[Item]],
        following: dict[ObjectPlan, list[Item]],
        pending: list[tuple[FieldPlan, Item]],
        coroutines: list[Coroutine[Any, Any, Any]],
    ) -> None:
        """Resolve the fields of one depth: values are completed, coroutines collected."""
        for plan, items in level.items():
            for field_plan in plan.fields:
                kind, key = field_plan.kind, field_plan.key
                if kind is TYPENAME:
                    name = plan.type.name
                    for item in items:
                        item.out[key] = name
                    continue
                if kind is ATTRIBUTE:
                    python_name = field_plan.strawberry_field.python_name  # type: ignore[union-attr]
                    for item in items:
                        try:
                            value = getattr(item.source, python_name)
                        except Exception as error:  # noqa: BLE001 - a field error
                            self._field_error(error, field_plan, item)
                            continue
                        if isinstance(value, CoroutineType):
                            item.out[key] = None
                            pending.append((field_plan, item))
                            coroutines.append(value)
                        else:
                            self._complete_field(field_plan, item, value, following)
                    continue
                call = self._call(field_plan)
                for item in items:
                    try:
                        value = call(item.source)
                    except FallBack:
                        raise
                    except Exception as error:  # noqa: BLE001 - a field error
                        self._field_error(error, field_plan, item)
                        continue
                    if isinstance(value, CoroutineType) or hasattr(value, "__await__"):
                        item.out[key] = None  # keeps the field's place in the response
                        pending.append((field_plan, item))
                        coroutines.append(
                            value if isinstance(value, CoroutineType) else _await(value)
                        )
                    else:
                        self._complete_field(field_plan, item, value, following)

    def _call(self, field_plan: FieldPlan) -> Callable[[Any], Any]:
        """The resolver of a field as a function of its source, arguments converted once."""
        found = self.calls.get(field_plan)
        if found is None:
            found = self.calls[field_plan] = self._prepare_call(field_plan)
        source_keys, kwargs = found
        resolver = field_plan.strawberry_field.base_resolver  # type: ignore[union-attr]
        assert resolver is not None  # noqa: S101 - RESOLVER fields have one
        if resolver.self_parameter:
            if source_keys:
                return lambda source: resolver(
                    source, **kwargs, **dict.fromkeys(source_keys, source)
                )
            return lambda source: resolver(source, **kwargs)
        if source_keys:
            return lambda source: resolver(**kwargs, **dict.fromkeys(source_keys, source))
        return lambda _source: resolver(**kwargs)

    def _prepare_call(self, field_plan: FieldPlan) -> tuple[list[str], dict[str, Any]]:
        definition = field_plan.definition
        strawberry_field = field_plan.strawberry_field
        assert definition is not None and strawberry_field is not None  # noqa: S101
        resolver = strawberry_field.base_resolver
        assert resolver is not None  # noqa: S101
        details = field_plan.details[0]
        try:
            raw_arguments = get_argument_values(
                definition,
                details.node,
                self.executor.variable_values,
                details.fragment_variable_values,
                self.executor.hide_suggestions,
            )
        except GraphQLError as error:
            raise FallBack("argument coercion failed") from error
        info = PlanInfo(_raw_info=self._info(field_plan), _field=strawberry_field)
        schema = self.strawberry_schema
        try:
            kwargs = convert_arguments(
                raw_arguments,
                strawberry_field.arguments,
                scalar_registry=schema.schema_converter.scalar_registry,
                config=schema.config,
                info=info,
            )
        except Exception as error:
            raise FallBack("argument conversion failed") from error
        source_keys = [
            parameter.name
            for parameter in (resolver.parent_parameter, resolver.root_parameter)
            if parameter is not None
        ]
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = info
        return source_keys, kwargs

    def _field_path(self, field_plan: FieldPlan, item: Item) -> Path:
        return Path(item.path, field_plan.key, field_plan.parent_type.name)

    def _field_error(self, error: Exception, field_plan: FieldPlan, item: Item) -> None:
        if isinstance(error, FallBack):
            raise error
        completion = field_plan.completion
        if completion is not None and not completion.nullable:
            # The null would propagate, and which of the errors of the other fields it
            # nulls graphql-core still reports depends on the order its tasks run in.
            raise FallBack("an error in a non-null field")
        path = self._field_path(field_plan, item)
        item.out[field_plan.key] = None
        self.errors.add(located_error(error, field_plan.nodes, path.as_list()), path)

    def _complete_field(
        self,
        field_plan: FieldPlan,
        item: Item,
        value: Any,
        following: dict[ObjectPlan, list[Item]],
    ) -> None:
        completion = field_plan.completion
        assert completion is not None  # noqa: S101 - TYPENAME fields are never completed
        if completion.kind is LEAF and value is not None and not isinstance(value, Exception):
            try:
                item.out[field_plan.key] = self._leaf(completion, value)
            except Exception as error:  # noqa: BLE001 - a field error
                self._field_error(error, field_plan, item)
            return
        try:
            self._complete(
                completion,
                field_plan,
                value,
                item.out,
                field_plan.key,
                None,
                following,
                item,
            )
        except Exception as error:  # noqa: BLE001 - a field error
            self._field_error(error, field_plan, item)

    @staticmethod
    def _leaf(completion: Completion, value: Any) -> Any:
        coerced = completion.type.coerce_output_value(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(completion.type)}.coerce_output_value("
                f"{inspect(value)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
        return coerced

    def _complete(
        self,
        completion: Completion,
        field_plan: FieldPlan,
        value: Any,
        container: Any,
        key: str | int,
        path: Path | None,
        following: dict[ObjectPlan, list[Item]],
        item: Item,
    ) -> None:
        """Complete `value` into `container[key]`; errors raise (a list item's are handled).

        `path` is the position's path when it is a list item (a field's is made only when
        needed).
        """
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if not completion.nullable:
                raise TypeError(
                    "Cannot return null for non-nullable field"
                    f" {field_plan.parent_type}.{field_plan.name}."
                )
            container[key] = None
            return
        kind = completion.kind
        if kind is LEAF:
            container[key] = self._leaf(completion, value)
            return
        if hasattr(value, "__await__"):
            raise FallBack("an awaitable inside a value")
        if path is None:
            path = self._field_path(field_plan, item)
        if kind is LIST:
            if not is_iterable(value):
                raise GraphQLError(
                    "Expected Iterable, but did not find one for field"
                    f" '{field_plan.parent_type}.{field_plan.name}'."
                )
            result: list[Any] = []
            container[key] = result
            item_completion = completion.item
            assert item_completion is not None  # noqa: S101
            for index, element in enumerate(value):
                result.append(None)
                element_path = Path(path, index, None)
                try:
                    self._complete(
                        item_completion,
                        field_plan,
                        element,
                        result,
                        index,
                        element_path,
                        following,
                        item,
                    )
                except FallBack:
                    raise
                except Exception as error:
                    if not item_completion.nullable:
                        raise FallBack("an error in a non-null list item") from error
                    located = located_error(error, field_plan.nodes, element_path.as_list())
                    result[index] = None
                    self.errors.add(located, element_path)
            return
        object_plan = (
            self._runtime_plan(completion, field_plan, value)
            if kind is ABSTRACT
            else completion.object
        )
        assert object_plan is not None  # noqa: S101 - OBJECT completions have a plan
        object_type = object_plan.type
        if object_type.is_type_of is not None:
            matches = object_type.is_type_of(value, self._info(field_plan))
            if hasattr(matches, "__await__"):
                raise FallBack("an awaitable is_type_of")
            if not matches:
                raise invalid_return_type_error(object_type, value, field_plan.details)
        out: dict[str, Any] = {}
        container[key] = out
        child = Item(value, out, path)
        following.setdefault(object_plan, []).append(child)

    def _info(self, field_plan: FieldPlan) -> Any:
        """graphql-core's resolve info of a field, shared by every object: its path is None
        (a resolver that reads the path makes the plan fall back, see `PlanInfo`)."""
        info = self.infos.get(field_plan)
        if info is None:
            info = self.infos[field_plan] = self.executor.build_resolve_info(
                field_plan.definition,  # type: ignore[arg-type]
                field_plan.nodes,
                field_plan.parent_type,
                None,  # type: ignore[arg-type]
            )
        return info

    def _runtime_plan(
        self, completion: Completion, field_plan: FieldPlan, value: Any
    ) -> ObjectPlan:
        abstract = completion.type
        resolve_type = abstract.resolve_type or self.executor.type_resolver
        info = self._info(field_plan)
        runtime_name = resolve_type(value, info, abstract)
        if hasattr(runtime_name, "__await__"):
            raise FallBack("an awaitable type resolver")
        details = completion.details
        assert details is not None  # noqa: S101
        runtime_type = self.executor.ensure_valid_runtime_type(
            runtime_name, abstract, details, info, value
        )
        plan = completion.runtime.get(runtime_type.name)
        if plan is None:
            plan = completion.runtime[runtime_type.name] = self.compiler.subfields(
                runtime_type, details
            )
        return plan


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


def compiled_execution(max_plans: int = 256) -> type[SchemaExtension]:
    """The schema extension that runs supported queries through cached plans."""
    cache = PlanCache(max_plans)

    class CompiledExecution(SchemaExtension):
        async def on_execute(self) -> Any:  # an async generator, as Strawberry's hooks take
            context = self.execution_context
            if context.result is None:
                result = await self._run()
                if result is not None:
                    context.result = result
            yield

        async def _run(self) -> ExecutionResult | None:
            context = self.execution_context
            document = context.graphql_document
            if document is None or context.query is None:
                return None
            strawberry_schema = context.schema
            executor_class = strawberry_schema.execution_context_class
            built = executor_class.build(
                strawberry_schema._schema,
                document,
                root_value=context.root_value,
                context_value=context.context,
                raw_variable_values=context.variables,
                operation_name=context.operation_name,
                operation_extensions=None,
            )
            if isinstance(built, list):
                return None  # stock execution reports the same errors
            coerced = built.variable_values.coerced
            conditions = cache.conditional_variables(context.query, document)
            key = (
                context.query,
                context.operation_name,
                tuple(bool(coerced.get(n)) for n in conditions),
            )
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
            except FallBack:
                return None

    return CompiledExecution


__all__ = ["FallBack", "PlanCache", "compiled_execution", "drive"]
