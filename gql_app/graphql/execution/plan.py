"""A compiled query's plan: selection sets, fields, completions, groups of objects per depth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
)
from graphql.execution.collect_fields import FieldDetails
from graphql.pyutils import Path
from graphql.type.scalars import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from gql_app.graphql.execution.marker import Batch


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


# How a field gets its value.
TYPENAME, ATTRIBUTE, RESOLVER = range(3)
# How a value is completed.
LEAF, LIST, OBJECT, ABSTRACT = range(4)


class FallBack(Exception):
    """The plan cannot run this operation: stock execution runs it instead."""


class PlanInfo(Info):
    """The `Info` resolvers get from a plan: one per field and request, so it has no path."""

    @property
    def path(self) -> Path:
        raise FallBack("a resolver read info.path")


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
