"""Compiles a validated query into its plan, or `FallBack` when stock execution must run it."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationType,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields
from graphql.execution.executor import Executor
from graphql.language import ArgumentNode, DirectiveNode, DocumentNode, VariableNode, visit
from graphql.language.visitor import Visitor
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField

from gql_app.graphql.execution.marker import BATCH_KEY
from gql_app.graphql.execution.plan import (
    ABSTRACT,
    ATTRIBUTE,
    LEAF,
    LIST,
    OBJECT,
    PLAIN_ARGUMENT_TYPES,
    PLAIN_LEAVES,
    RESOLVER,
    TYPENAME,
    Completion,
    FallBack,
    FieldPlan,
    ObjectPlan,
)

DEFINITION_KEY = "strawberry-definition"


CONDITIONAL_DIRECTIVES = ("skip", "include")


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
