"""A plan's run: the result walked one depth at a time, completed as graphql-core completes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from types import CoroutineType
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    Undefined,
    located_error,
)
from graphql.execution.executor import CollectedErrors, Executor, invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.pyutils import inspect, is_iterable
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from gql_app.graphql.execution.compiler import Compiler
from gql_app.graphql.execution.plan import (
    ABSTRACT,
    ATTRIBUTE,
    LEAF,
    LIST,
    TYPENAME,
    Completion,
    FallBack,
    FieldPlan,
    Group,
    Indices,
    ObjectPlan,
    PlanInfo,
    _within,
    path_of,
)
from gql_app.graphql.execution.response_size import ResponseTooLarge, response_budget


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

    # Inlined on purpose: the executor's hot path, where every call per field or value costs
    # (bench/RESULTS.md); helpers for its branches would add one per field of each depth.
    def _resolve(  # noqa: C901 - a hot path, inlined (see above)
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
        if definition is None or strawberry_field is None:
            # The compiler plans resolver calls only for fields with a definition and a
            # Strawberry field; anything else is a bug of the compiler, not of the query.
            raise RuntimeError(
                f"compiled execution: field {field_plan.parent_type}.{field_plan.name}"
                " has no definition or Strawberry field to call"
            )
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

    # Inlined on purpose: called for every value of the result (bench/RESULTS.md); a helper
    # per branch would add a call per list value and its items.
    def _complete(  # noqa: C901 - a hot path, inlined (see above)
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
