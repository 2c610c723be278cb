"""What an operation asks for, measured before it runs: cost, depth and aliases, and a memo.

The cost model, in full:

- a field costs 1 plus its selection set's cost times `n`;
- `n` is the page size of a paginated field (one that takes `first` or `last`): the value
  of `first` or `last` (the larger if both), or the default page size when neither is
  given; for another field returning a list, the number of distinct items of its longest
  list argument (`nodes(ids: [...])` loads a repeated id once), else 1; `n` is 1 for every
  other field;
- a paginated field of the root type (`users`, `posts`) costs a scan (`QUERY_SCAN_COST`)
  more for each `totalCount` of its selection and for a `search`/`*Contains` filter: both
  make the database read the whole table (nested counts and pages are batched lookups by
  an index, costed as fields);
- arguments are read as execution reads them: literals and variables coerced by the
  schema (`1e2` is the Int 100, a single id is a list of one);
- fragments and inline fragments count as if written out, every branch of a union or
  interface counts (an upper bound), and `@skip`/`@include` are ignored.

So the cost bounds the number of fields a response can hold. The depth is the longest
chain of nested fields (`{ a { b } }` is 2), aliases are counted as written out (fragments
expanded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.validation import ASTValidationContext

from gql_app.core.lru import LRU

if TYPE_CHECKING:
    from gql_app.graphql.limits import QueryLimits

PAGE_ARGUMENTS = ("first", "last")
CURSOR_ARGUMENTS = ("after", "before")
COUNT_FIELD = "totalCount"


@dataclass(frozen=True, slots=True)
class Measure:
    """What an operation, or a part of one, asks for."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    counts: int = 0  # `totalCount` fields of this selection set, for its connection field

    def beside(self, other: Measure) -> Measure:
        """The measure of two sibling selections together."""
        return Measure(
            self.cost + other.cost,
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.counts + other.counts,
        )


class _Measurer:
    """Measures an operation of a validated-or-not document (unknown fields cost 1).

    Fragments are measured once each, in dependency order without recursion, so neither a
    long chain of fragments nor one spread many times costs more than its size; recursion
    within a selection set is bounded by the parser's nesting limit.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        context: ASTValidationContext,
        variables: VariableValues | None,
        limits: QueryLimits,
    ) -> None:
        self._context = context
        self._schema = schema
        self._variables = variables
        self._limits = limits
        self._fragments: dict[str, Measure] = {}
        # The variables the measure depends on, whatever their values: those in the
        # arguments of list fields, but for the cursors of paginated ones.
        self.read: dict[str, None] = {}

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        self._measure_fragments(operation)
        root = self._schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root)

    def _measure_fragments(self, operation: OperationDefinitionNode) -> None:
        measured: dict[str, bool] = {}  # False while its spreads are being measured
        stack = [(spread.name.value, False) for spread in self._spreads(operation.selection_set)]
        while stack:
            name, spreads_done = stack.pop()
            fragment = self._context.get_fragment(name)
            if fragment is None:
                continue
            if spreads_done:
                condition = self._composite_type(fragment.type_condition)
                self._fragments[name] = self._selections(fragment.selection_set, condition)
                measured[name] = True
            elif name not in measured:  # a cycle, an error of validation, counts nothing
                measured[name] = False
                stack.append((name, True))
                stack.extend(
                    (spread.name.value, False)
                    for spread in self._spreads(fragment.selection_set)
                    if spread.name.value not in measured
                )

    def _spreads(self, selection_set: SelectionSetNode) -> list[FragmentSpreadNode]:
        return self._context.get_fragment_spreads(selection_set)

    def _composite_type(self, node: NamedTypeNode | None) -> GraphQLCompositeType | None:
        named = self._schema.get_type(node.name.value) if node is not None else None
        return named if is_composite_type(named) else None

    def _selections(
        self, selection_set: SelectionSetNode, parent: GraphQLCompositeType | None
    ) -> Measure:
        total = Measure()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                part = self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._composite_type(condition) if condition is not None else parent
                part = self._selections(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                part = self._fragments.get(selection.name.value, Measure())
            total = total.beside(part)
        return total

    def _field(self, node: FieldNode, parent: GraphQLCompositeType | None) -> Measure:
        definition = self._schema.get_field(parent, node.name.value) if parent else None
        children = Measure()
        if node.selection_set is not None:
            named = get_named_type(definition.type) if definition else None
            inner = named if is_composite_type(named) else None
            children = self._selections(node.selection_set, inner)
        multiplier, scans = self._multiplier(node, definition, parent, children)
        return Measure(
            cost=1 + multiplier * children.cost + scans * self._limits.scan_cost,
            depth=1 + children.depth,
            aliases=(1 if node.alias else 0) + children.aliases,
            counts=1 if node.name.value == COUNT_FIELD else 0,
        )

    def _multiplier(
        self,
        node: FieldNode,
        definition: GraphQLField | None,
        parent: GraphQLCompositeType | None,
        children: Measure,
    ) -> tuple[int, int]:
        """How many times the field's selection set is resolved, at most, and how many
        whole-table scans the field makes."""
        if definition is None:
            return 1, 0
        paginated = any(name in definition.args for name in PAGE_ARGUMENTS)
        if not paginated and not is_list_type(get_nullable_type(definition.type)):
            return 1, 0
        for argument in node.arguments or ():
            if argument.name.value not in CURSOR_ARGUMENTS:
                self.read.update(dict.fromkeys(_variables_in(argument.value)))
        try:
            arguments = get_argument_values(definition, node, self._variables)
        except GraphQLError:  # validation or variable coercion reports it; nothing runs
            arguments = {}
        if paginated:
            sizes = [arguments.get(name) for name in PAGE_ARGUMENTS]
            counts = [size for size in sizes if isinstance(size, int)]
            size = max(0, max(counts, default=self._limits.default_page_size))
            if parent is not self._schema.query_type:
                return size, 0
            return size, children.counts + (1 if _searches(arguments.values()) else 0)
        return max((_distinct(value) for value in arguments.values()), default=1), 0


def _distinct(value: Any) -> int:
    """How many distinct items a coerced argument value lists (1 if it is no list)."""
    if not isinstance(value, list):
        return 1
    try:
        return len(set(value))
    except TypeError:  # items that cannot be hashed (input objects)
        return len(value)


def _searches(values: Iterable[Any]) -> bool:
    """Whether coerced argument values hold a text filter (`search`, `...Contains`)."""
    for value in values:
        if isinstance(value, dict):
            if any(
                item is not None and (key == "search" or key.endswith("Contains"))
                for key, item in value.items()
            ) or _searches(value.values()):
                return True
        elif isinstance(value, list) and _searches(value):
            return True
    return False


def _variables_in(value: ValueNode) -> Iterator[str]:
    """The names of the variables in an argument's value, however deep."""
    if isinstance(value, VariableNode):
        yield value.name.value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _variables_in(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _variables_in(field.value)


def measure_operation(
    schema: GraphQLSchema,
    context: ASTValidationContext,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
) -> Measure:
    """What `operation` of the context's document asks for, with the request's variables."""
    coerced = coerce_variables(schema, operation, variables)
    return _Measurer(schema, context, coerced, limits).operation(operation)


def coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, given: Mapping[str, Any] | None
) -> VariableValues | None:
    """The request's variables as execution sees them (coerced, defaults applied), or None
    when they do not coerce: execution then refuses them (`BAD_USER_INPUT`) and runs nothing,
    and the measure reads every variable as not given."""
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(given or {}))
    return None if isinstance(coerced, list) else coerced


_ABSENT = object()


class MeasureMemo:
    """`measure_operation` remembered: by query text, operation name and the coerced values
    (with their types) of the variables the measure reads, so a query's later requests do
    not walk its document again (`100` and `100.0`, both the Int 100, share a measure).
    Values that cannot be hashed (lists, objects) are measured anew. Bounded: `size`
    operations, `size` measures.
    """

    def __init__(self, size: int) -> None:
        self._read: LRU[tuple[str, str | None], tuple[str, ...]] = LRU(size)
        self._measures: LRU[tuple[Any, ...], Measure] = LRU(size)

    def measure(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        limits: QueryLimits,
    ) -> Measure:
        """What `measure_operation` answers for `operation` of `document`, parsed from `query`."""
        operation_key = (query, operation.name.value if operation.name else None)
        read = self._read.get(operation_key)
        if read == ():  # the measure reads no variable: none needs coercing to find it
            known = self._measures.get(operation_key)
            if known is not None:
                return known
        coerced = coerce_variables(schema, operation, variables)
        given = coerced.coerced if coerced is not None else {}
        key = _measure_key(operation_key, read, given) if read is not None else None
        found = self._measures.get(key) if key is not None else None
        if found is not None:
            return found
        measurer = _Measurer(schema, document_context(document), coerced, limits)
        measure = measurer.operation(operation)
        if read is None:
            read = tuple(measurer.read)
            self._read.put(operation_key, read)
            key = _measure_key(operation_key, read, given)
        if key is not None:
            self._measures.put(key, measure)
        return measure


def _measure_key(
    operation_key: tuple[str, str | None], read: tuple[str, ...], given: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """The memo's key of a measure, or None when a value it reads cannot be hashed."""
    values = (given.get(name, _ABSENT) for name in read)
    key = (*operation_key, *((type(value), value) for value in values))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def document_context(document: DocumentNode) -> ASTValidationContext:
    """What `measure_operation` needs of a document outside validation (errors unused)."""
    return ASTValidationContext(document, _ignore_error)


def _ignore_error(_error: GraphQLError) -> None:
    """Measuring reports nothing: validation reports the document's errors."""
