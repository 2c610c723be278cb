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
- a resolver with a batch form (`batched`: the DataLoader-backed relation fields) is not
  called per object: its batch form is called once per depth with every object's source
  and returns each object's value or error, in one coroutine instead of one per object;
- the coroutines of one depth run together, each in a task of its own, so their DataLoader
  calls land in the same batch, as they do under graphql-core;
- values are completed as graphql-core completes them: the same coercion of leaves (values
  the built-in scalars return unchanged are copied as they are), type checks, error
  messages, error locations and paths; an error in a nullable field or list item nulls it
  and is reported there. Paths are built only for errors, from where each object lies.

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
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from math import isfinite
from types import CoroutineType
from typing import Any

import strawberry
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
from graphql.type.scalars import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import Info
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField

from gql_app.graphql.response_size import ResponseTooLarge, response_budget
from gql_app.lru import LRU

DEFINITION_KEY = "strawberry-definition"
CONDITIONAL_DIRECTIVES = ("skip", "include")
BATCH_KEY = "gql_app.compiled.batch"

Batch = Callable[..., Awaitable[Sequence[Any]]]


def batched(batch: Batch) -> Mapping[str, Any]:
    """Field metadata (`strawberry.field(metadata=...)`) giving a resolver its batch form.

    A plan calls `batch(sources, **arguments)` once per field and depth with the sources of
    every object of that depth (the arguments and `info` as the resolver takes them) and
    expects one value, or exception, per source: what the resolver returns, or raises, for
    it. Stock execution keeps calling the resolver.
    """
    return {BATCH_KEY: batch}


def _in_int_range(value: int) -> bool:
    return GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT


# The built-in scalars' serializers, by the exact Python type of the values they return
# unchanged (and the check those values must pass): a plan copies such values as they are.
PLAIN_LEAVES: dict[Callable[[Any], Any], tuple[type, Callable[[Any], bool] | None]] = {
    serialize_string: (str, None),
    serialize_id: (str, None),
    serialize_boolean: (bool, None),
    serialize_int: (int, _in_int_range),
    serialize_float: (float, isfinite),
}


# Argument types whose values Strawberry's `convert_arguments` returns unchanged.
PLAIN_ARGUMENT_TYPES = frozenset((str, int, float, bool, strawberry.ID))


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
    # Leaves of built-in scalars: values of exactly this type (passing `check`) are copied.
    plain: type | None = None
    check: Callable[[Any], bool] | None = None


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
    batch: Batch | None = None  # the resolver's batch form (see `batched`)
    # (GraphQL name, Python name) of each argument, when every one is a built-in scalar
    # (which Strawberry passes on as graphql-core coerced it); else None.
    plain_arguments: tuple[tuple[str, str], ...] | None = None


@dataclass(eq=False, slots=True)
class ObjectPlan:
    type: GraphQLObjectType
    fields: list[FieldPlan]


# Where an object lies in the lists of its field: nowhere (not in a list), an index, or the
# indices in a list of lists.
Indices = int | tuple[int, ...] | None


class Group:
    """The objects of one selection set at one depth, in parallel lists: no object per object.

    Object `i` lies in the field `field` of the object at `parents[i]` of the group `parent`,
    at `indices[i]` in that field's lists; the root group has no parent. Paths are built from
    these only when an error has to be reported.
    """

    __slots__ = ("field", "indices", "outs", "parent", "parents", "plan", "sources")

    def __init__(self, plan: ObjectPlan, parent: Group | None, field: FieldPlan | None) -> None:
        self.plan = plan
        self.parent = parent
        self.field = field
        self.sources: list[Any] = []
        self.outs: list[dict[str, Any]] = []
        self.parents: list[int] = []
        self.indices: list[Indices] = []

    def release(self) -> None:
        """Let go of the objects once their fields are resolved: they can be freed at once,
        before the garbage collector moves them to an older generation (paths need only
        where they lay)."""
        self.sources = []
        self.outs = []


def path_of(group: Group, position: int, field_plan: FieldPlan, indices: Indices) -> Path:
    """The path of the field `field_plan` of object `position` of `group`, then `indices`."""
    above = group.parent
    parent = (
        None
        if above is None
        else path_of(above, group.parents[position], group.field, group.indices[position])  # type: ignore[arg-type]
    )
    path = Path(parent, field_plan.key, field_plan.parent_type.name)
    for index in () if indices is None else (indices,) if isinstance(indices, int) else indices:
        path = Path(path, index, None)
    return path


def _within(indices: Indices, index: int) -> Indices:
    """The indices of item `index` of the list at `indices`."""
    if indices is None:
        return index
    return (indices, index) if isinstance(indices, int) else (*indices, index)


class Compiler:
    """Builds the plan of one operation from an executor graphql-core built for it."""

    def __init__(self, executor: Executor[Any], strawberry_schema: Any) -> None:
        self.executor = executor
        self.schema = executor.schema
        self.strawberry_schema = strawberry_schema

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
        batch = strawberry_field.metadata.get(BATCH_KEY) if kind is RESOLVER else None
        plain_arguments = self._plain_arguments(strawberry_field)
        return FieldPlan(
            key,
            name,
            kind,
            details,
            nodes,
            definition,
            parent,
            strawberry_field,
            completion,
            batch,
            plain_arguments,
        )

    def _plain_arguments(
        self, strawberry_field: StrawberryField
    ) -> tuple[tuple[str, str], ...] | None:
        names = []
        for argument in strawberry_field.arguments:
            type_ = argument.type
            if type(type_) is StrawberryOptional:  # not Maybe, which wraps its values
                type_ = type_.of_type
            if type_ not in PLAIN_ARGUMENT_TYPES or argument.python_name is None:
                return None
            name = self.strawberry_schema.config.name_converter.from_argument(argument)
            names.append((name, argument.python_name))
        return tuple(names)

    def _completion(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Completion:
        nullable = not is_non_null_type(type_)
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if is_list_type(named):
            item = self._completion(named.of_type, details)
            return Completion(LIST, nullable, named, item=item)
        if is_leaf_type(named):
            plain, check = PLAIN_LEAVES.get(named.coerce_output_value, (None, None))
            return Completion(LEAF, nullable, named, plain=plain, check=check)
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


def _unbounded(_value: Any) -> None:
    """What a context without a response budget spends."""


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def drive(coroutines: list[Coroutine[Any, Any, Any]]) -> list[tuple[bool, Any]]:
    """Run the coroutines of one depth together: (ok, value or error) of each.

    Each of several runs in a task of its own, as under graphql-core: `asyncio.timeout`
    (the pool's checkout timeout) cancels the current task, so a coroutine must be one.
    Their DataLoader calls land in the same batch. A lone coroutine (one root field, one
    batch of a depth) runs in the request's task: a task more would only cost its creation.
    """
    if len(coroutines) == 1:
        try:
            return [(True, await coroutines[0])]
        except Exception as error:  # noqa: BLE001 - the field's error, as gather returns it
            return [(False, error)]
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    return [(not isinstance(result, BaseException), result) for result in results]


class Run:
    """One execution of a plan: builds the data and collects the errors."""

    def __init__(self, executor: Executor[Any], strawberry_schema: Any) -> None:
        self.executor = executor
        self.strawberry_schema = strawberry_schema
        self.compiler = Compiler(executor, strawberry_schema)
        self.errors = CollectedErrors()
        self.box: dict[str, Any] = {"data": {}}
        self.calls: dict[FieldPlan, tuple[list[str], dict[str, Any]]] = {}
        self.infos: dict[FieldPlan, Any] = {}
        budget = response_budget(executor.context_value)
        self.spend = budget.spend if budget is not None else _unbounded

    async def execute(self, plan: ObjectPlan) -> ExecutionResult:
        root = Group(plan, None, None)
        root.sources.append(self.executor.root_value)
        root.outs.append(self.box["data"])
        level = [root]
        while level:
            level = await self._level(level)
        errors = self.errors.errors
        return ExecutionResult(self.box["data"], errors or None)

    async def _level(self, level: list[Group]) -> list[Group]:
        """Resolve every field of every object of one depth; the objects of the next."""
        following: dict[ObjectPlan, Group] = {}
        # Per-object coroutines are at a position of their group; a batch's at -1.
        pending: list[tuple[FieldPlan, Group, int]] = []
        coroutines: list[Coroutine[Any, Any, Any]] = []
        try:
            for group in level:
                if group.sources:
                    self._resolve(group, following, pending, coroutines)
        except BaseException:
            for coroutine in coroutines:  # never started: closing runs none of their code
                coroutine.close()
            raise
        if coroutines:
            outcomes = await drive(coroutines)
            for (field_plan, group, position), (ok, value) in zip(pending, outcomes, strict=True):
                if isinstance(value, FallBack):
                    raise value
                if position >= 0:
                    if ok:
                        self._complete_field(field_plan, group, position, value, following)
                    else:
                        self._field_error(value, field_plan, group, position)
                elif ok:
                    self._complete_batch(field_plan, group, value, following)
                else:
                    for position in range(len(group.sources)):
                        self._field_error(value, field_plan, group, position)
        for group in level:
            group.release()
        return list(following.values())

    def _resolve(
        self,
        group: Group,
        following: dict[ObjectPlan, Group],
        pending: list[tuple[FieldPlan, Group, int]],
        coroutines: list[Coroutine[Any, Any, Any]],
    ) -> None:
        """Resolve the fields of a group: values are completed, coroutines collected."""
        sources, outs = group.sources, group.outs
        spend = self.spend
        for field_plan in group.plan.fields:
            kind, key = field_plan.kind, field_plan.key
            if kind is TYPENAME:
                name = group.plan.type.name
                for out in outs:
                    out[key] = name
                continue
            completion = field_plan.completion
            assert completion is not None  # noqa: S101 - fields other than __typename
            # Values of this exact type are the field's result as they are.
            plain = completion.plain if completion.check is None else None
            if kind is ATTRIBUTE:
                python_name = field_plan.strawberry_field.python_name  # type: ignore[union-attr]
                positions: list[int] = []
                values: list[Any] = []
                for position, source in enumerate(sources):
                    try:
                        value = getattr(source, python_name)
                    except Exception as error:  # noqa: BLE001 - a field error
                        self._field_error(error, field_plan, group, position)
                        continue
                    if type(value) is plain:
                        spend(value)
                        outs[position][key] = value
                    elif isinstance(value, CoroutineType):
                        outs[position][key] = None
                        pending.append((field_plan, group, position))
                        coroutines.append(value)
                    else:
                        positions.append(position)
                        values.append(value)
                if values:
                    self._complete_values(field_plan, group, positions, values, following)
                continue
            if field_plan.batch is not None:
                for out in outs:
                    out[key] = None  # keeps the field's place in the response
                try:
                    coroutine = self._batch_call(field_plan, sources)
                except FallBack:
                    raise
                except Exception as error:  # noqa: BLE001 - a field error of each
                    for position in range(len(sources)):
                        self._field_error(error, field_plan, group, position)
                    continue
                pending.append((field_plan, group, -1))
                coroutines.append(coroutine)
                continue
            call = self._call(field_plan)
            for position, source in enumerate(sources):
                try:
                    value = call(source)
                except FallBack:
                    raise
                except Exception as error:  # noqa: BLE001 - a field error
                    self._field_error(error, field_plan, group, position)
                    continue
                if type(value) is plain:
                    spend(value)
                    outs[position][key] = value
                elif isinstance(value, CoroutineType) or hasattr(value, "__await__"):
                    outs[position][key] = None  # keeps the field's place in the response
                    pending.append((field_plan, group, position))
                    coroutines.append(value if isinstance(value, CoroutineType) else _await(value))
                else:
                    self._complete_field(field_plan, group, position, value, following)

    def _call(self, field_plan: FieldPlan) -> Callable[[Any], Any]:
        """The resolver of a field as a function of its source, arguments converted once."""
        source_keys, kwargs = self._arguments(field_plan)
        resolver = field_plan.strawberry_field.base_resolver  # type: ignore[union-attr]
        assert resolver is not None  # noqa: S101 - RESOLVER fields have one
        function = resolver.wrapped_func  # what calling the resolver calls, if callable
        if not callable(function):
            function = resolver  # raises as it does under stock execution
        if resolver.self_parameter:
            if source_keys:
                return lambda source: function(
                    source, **kwargs, **dict.fromkeys(source_keys, source)
                )
            return partial(function, **kwargs) if kwargs else function
        if source_keys:
            return lambda source: function(**kwargs, **dict.fromkeys(source_keys, source))
        return lambda _source: function(**kwargs)

    def _batch_call(self, field_plan: FieldPlan, sources: list[Any]) -> Coroutine[Any, Any, Any]:
        """The coroutine of a field's batch form for the sources of one depth."""
        batch = field_plan.batch
        assert batch is not None  # noqa: S101
        _, kwargs = self._arguments(field_plan)
        awaitable = batch(sources, **kwargs)
        return awaitable if isinstance(awaitable, CoroutineType) else _await(awaitable)

    def _arguments(self, field_plan: FieldPlan) -> tuple[list[str], dict[str, Any]]:
        """The names the source is passed as, and the other arguments, of a resolver."""
        found = self.calls.get(field_plan)
        if found is None:
            found = self.calls[field_plan] = self._prepare_call(field_plan)
        return found

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
        if field_plan.plain_arguments is not None:
            kwargs = {
                python_name: raw_arguments[name]
                for name, python_name in field_plan.plain_arguments
                if name in raw_arguments
            }
        else:
            kwargs = self._converted(raw_arguments, strawberry_field, info)
        source_keys = [
            parameter.name
            for parameter in (resolver.parent_parameter, resolver.root_parameter)
            if parameter is not None
        ]
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = info
        return source_keys, kwargs

    def _converted(
        self, raw_arguments: dict[str, Any], strawberry_field: StrawberryField, info: PlanInfo
    ) -> dict[str, Any]:
        """The arguments as Strawberry passes them to the resolver."""
        schema = self.strawberry_schema
        try:
            return convert_arguments(
                raw_arguments,
                strawberry_field.arguments,
                scalar_registry=schema.schema_converter.scalar_registry,
                config=schema.config,
                info=info,
            )
        except Exception as error:
            raise FallBack("argument conversion failed") from error

    def _field_error(
        self,
        error: Exception,
        field_plan: FieldPlan,
        group: Group,
        position: int,
        indices: Indices = None,
    ) -> None:
        """Report `error` at the field of an object (or at `indices` in its lists), nulled."""
        if isinstance(error, FallBack | ResponseTooLarge):
            raise error
        completion = field_plan.completion
        if indices is None and completion is not None and not completion.nullable:
            # The null would propagate, and which of the errors of the other fields it
            # nulls graphql-core still reports depends on the order its tasks run in.
            raise FallBack("an error in a non-null field")
        path = path_of(group, position, field_plan, indices)
        if indices is None:
            group.outs[position][field_plan.key] = None
        self.errors.add(located_error(error, field_plan.nodes, path.as_list()), path)

    def _complete_batch(
        self,
        field_plan: FieldPlan,
        group: Group,
        values: Any,
        following: dict[ObjectPlan, Group],
    ) -> None:
        """Complete what a batch form returned: a value or an exception per object."""
        count = len(group.sources)
        if not isinstance(values, Sequence) or len(values) != count:
            error = TypeError(
                f"the batch form of {field_plan.parent_type}.{field_plan.name}"
                f" returned {inspect(values)}, not one value per object"
            )
            for position in range(count):
                self._field_error(error, field_plan, group, position)
            return
        self._complete_values(field_plan, group, range(count), values, following)

    def _complete_values(
        self,
        field_plan: FieldPlan,
        group: Group,
        positions: Sequence[int],
        values: Sequence[Any],
        following: dict[ObjectPlan, Group],
    ) -> None:
        """Complete the field of the objects at `positions` of `group` with `values`.

        Objects of the field's object type (the node of an edge, an author) go straight to
        their group; anything else is completed by `_complete_field`.
        """
        completion = field_plan.completion
        assert completion is not None  # noqa: S101 - TYPENAME fields are never completed
        object_plan = completion.object
        if object_plan is None:
            for position, value in zip(positions, values, strict=True):
                self._complete_field(field_plan, group, position, value, following)
            return
        is_type_of = object_plan.type.is_type_of
        info = self._info(field_plan)
        key = field_plan.key
        outs = group.outs
        objects = self._group(object_plan, group, field_plan, following)
        for position, value in zip(positions, values, strict=True):
            if (
                value is None
                or value is Undefined
                or isinstance(value, Exception)
                or hasattr(value, "__await__")
            ):
                self._complete_field(field_plan, group, position, value, following)
                continue
            if is_type_of is not None:
                matches = is_type_of(value, info)
                if matches is not True:
                    try:
                        self._check_type(matches, object_plan, field_plan, value)
                    except FallBack:
                        raise
                    except Exception as error:  # noqa: BLE001 - a field error
                        self._field_error(error, field_plan, group, position)
                        continue
            out: dict[str, Any] = {}
            outs[position][key] = out
            objects.sources.append(value)
            objects.outs.append(out)
            objects.parents.append(position)
            objects.indices.append(None)

    def _complete_field(
        self,
        field_plan: FieldPlan,
        group: Group,
        position: int,
        value: Any,
        following: dict[ObjectPlan, Group],
    ) -> None:
        completion = field_plan.completion
        assert completion is not None  # noqa: S101 - TYPENAME fields are never completed
        try:
            self._complete(
                completion,
                field_plan,
                value,
                group.outs[position],
                field_plan.key,
                None,
                following,
                group,
                position,
            )
        except Exception as error:  # noqa: BLE001 - a field error
            self._field_error(error, field_plan, group, position)

    @staticmethod
    def _leaf(completion: Completion, value: Any) -> Any:
        if type(value) is completion.plain and (
            completion.check is None or completion.check(value)
        ):
            return value  # what the scalar's coerce_output_value returns
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
        indices: Indices,
        following: dict[ObjectPlan, Group],
        group: Group,
        position: int,
    ) -> None:
        """Complete `value` into `container[key]`, which lies at `indices` in the lists of
        the field of object `position` of `group`; errors raise (a list item's are reported
        here)."""
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
            leaf = self._leaf(completion, value)
            self.spend(leaf)
            container[key] = leaf
            return
        if hasattr(value, "__await__"):
            raise FallBack("an awaitable inside a value")
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
            # Items of an object type (the edges of a connection) go straight to their group.
            object_plan = item_completion.object
            if object_plan is not None:
                objects = self._group(object_plan, group, field_plan, following)
                is_type_of = object_plan.type.is_type_of
                info = self._info(field_plan)
            for index, element in enumerate(value):
                result.append(None)
                element_indices = _within(indices, index)
                try:
                    if (
                        object_plan is not None
                        and element is not None
                        and not isinstance(element, Exception)
                        and not hasattr(element, "__await__")
                    ):
                        if is_type_of is not None:
                            matches = is_type_of(element, info)
                            if matches is not True:
                                self._check_type(matches, object_plan, field_plan, element)
                        out: dict[str, Any] = {}
                        result[index] = out
                        objects.sources.append(element)
                        objects.outs.append(out)
                        objects.parents.append(position)
                        objects.indices.append(element_indices)
                        continue
                    self._complete(
                        item_completion,
                        field_plan,
                        element,
                        result,
                        index,
                        element_indices,
                        following,
                        group,
                        position,
                    )
                except (FallBack, ResponseTooLarge):
                    raise
                except Exception as error:
                    if not item_completion.nullable:
                        raise FallBack("an error in a non-null list item") from error
                    self._field_error(error, field_plan, group, position, element_indices)
            return
        object_plan = (
            self._runtime_plan(completion, field_plan, value)
            if kind is ABSTRACT
            else completion.object
        )
        assert object_plan is not None  # noqa: S101 - OBJECT completions have a plan
        is_type_of = object_plan.type.is_type_of
        if is_type_of is not None:
            matches = is_type_of(value, self.infos.get(field_plan) or self._info(field_plan))
            if matches is not True:
                self._check_type(matches, object_plan, field_plan, value)
        out = {}
        container[key] = out
        objects = following.get(object_plan) or self._group(
            object_plan, group, field_plan, following
        )
        objects.sources.append(value)
        objects.outs.append(out)
        objects.parents.append(position)
        objects.indices.append(indices)

    @staticmethod
    def _check_type(
        matches: Any, object_plan: ObjectPlan, field_plan: FieldPlan, value: Any
    ) -> None:
        """Raise as graphql-core does unless `is_type_of` answered that `value` is one."""
        if hasattr(matches, "__await__"):
            raise FallBack("an awaitable is_type_of")
        if not matches:
            raise invalid_return_type_error(object_plan.type, value, field_plan.details)

    @staticmethod
    def _group(
        object_plan: ObjectPlan,
        parent: Group,
        field_plan: FieldPlan,
        following: dict[ObjectPlan, Group],
    ) -> Group:
        """The group of the next depth the objects of `object_plan` go to."""
        objects = following.get(object_plan)
        if objects is None:
            objects = following[object_plan] = Group(object_plan, parent, field_plan)
        return objects

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


__all__ = ["FallBack", "PlanCache", "compiled_execution", "drive", "execute_compiled"]
