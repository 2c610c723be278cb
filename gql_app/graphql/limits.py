"""Limits against hostile queries: cost, depth, aliases and tokens; no "Did you mean" hints.

`QueryLimitsExtension` checks every operation before it runs, and reports its cost in the
response (`extensions.cost`). The cost model, in full:

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
expanded), and tokens are the document's lexical tokens (comments and commas excluded).
graphql-core's check that same-named fields can be merged, quadratic in their number, runs
on a budget of work of its own (`QUERY_VALIDATION_BUDGET`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import Lexer, Source, TokenKind
from graphql.validation import ASTValidationContext, OverlappingFieldsCanBeMergedRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import BatchingConfig

from gql_app.config import Settings
from gql_app.graphql.pagination import DEFAULT_PAGE_SIZE
from gql_app.lru import LRU

PAGE_ARGUMENTS = ("first", "last")
CURSOR_ARGUMENTS = ("after", "before")
COUNT_FIELD = "totalCount"
# What graphql-core's `did_you_mean` adds to a message, wherever it is in it: " Did you mean
# 'a'?", " Did you mean the enum value 'A' or 'B'?", " Did you mean 'a', 'b', or 'c'?".
_NAME = "'[_A-Za-z][_0-9A-Za-z]*'"
_SUGGESTION = re.compile(f" Did you mean (?:[a-z]+(?: [a-z]+)* )?{_NAME}(?:,? (?:or )?{_NAME})*\\?")


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The limits every operation is checked against (`QUERY_MAX_*`, `QUERY_VALIDATION_BUDGET`)."""

    max_cost: int
    max_depth: int
    max_aliases: int
    max_tokens: int
    validation_budget: int
    default_page_size: int
    scan_cost: int


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


def limit_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def violations(measure: Measure, limits: QueryLimits) -> list[GraphQLError]:
    """One error per limit the measure exceeds, each naming its setting."""
    errors = []
    if measure.cost > limits.max_cost:
        errors.append(
            limit_error(
                f"Query cost {measure.cost} exceeds the limit QUERY_MAX_COST={limits.max_cost}.",
                "QUERY_TOO_COSTLY",
            )
        )
    if measure.depth > limits.max_depth:
        errors.append(
            limit_error(
                f"Query depth {measure.depth} exceeds the limit "
                f"QUERY_MAX_DEPTH={limits.max_depth}.",
                "QUERY_TOO_DEEP",
            )
        )
    if measure.aliases > limits.max_aliases:
        errors.append(
            limit_error(
                f"Query uses {measure.aliases} aliases, more than the limit "
                f"QUERY_MAX_ALIASES={limits.max_aliases}.",
                "TOO_MANY_ALIASES",
            )
        )
    return errors


def exceeds_token_limit(query: str, max_tokens: int) -> bool:
    """The document has more than `max_tokens` lexical tokens; lexes at most that many."""
    if len(query) <= max_tokens:  # every token is at least one character long
        return False
    lexer = Lexer(Source(query))
    try:
        for _ in range(max_tokens + 1):
            if lexer.advance().kind is TokenKind.EOF:
                return False
    except GraphQLSyntaxError:
        return False  # the parser reports it
    return True


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
        coerced = coerce_variables(schema, operation, variables)
        given = coerced.coerced if coerced is not None else {}
        operation_key = (query, operation.name.value if operation.name else None)
        read = self._read.get(operation_key)
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


def without_suggestion(error: GraphQLError) -> GraphQLError:
    """`error` without graphql-core's "Did you mean ...?" hints."""
    message = _SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


@cache
def budgeted_overlap_rule(budget: int) -> type[OverlappingFieldsCanBeMergedRule]:
    """graphql-core's check that fields of one name can be merged, with `budget` units of
    work (its own default, 500,000, is seconds of CPU on a document that repeats a field a few
    hundred times; realistic operations spend none)."""

    class BudgetedOverlappingFieldsRule(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = budget

        def enter_selection_set(self, *args: Any) -> None:
            try:
                super().enter_selection_set(*args)
            except ValidationAbortedError:
                if self.rule_context.remaining_complexity_budget >= 0:
                    raise  # the error limit, not the budget
                raise ValidationAbortedError(
                    "Validating the query takes more work than the limit "
                    f"QUERY_VALIDATION_BUDGET={budget} (it repeats fields of one name).",
                    extensions={"code": "QUERY_TOO_COMPLEX"},
                ) from None

    return BudgetedOverlappingFieldsRule


class QueryLimitsExtension(SchemaExtension):
    """Refuses an operation over any of `limits`, and reports its cost in `extensions.cost`.

    Tokens are counted before parsing; cost, depth and aliases are measured during
    validation, for the operation that is to run, with the request's variables.
    """

    def __init__(self, *, limits: QueryLimits) -> None:
        self.limits = limits
        self.measure: Measure | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        overlap_rule = budgeted_overlap_rule(self.limits.validation_budget)
        context.validation_rules = (
            *(
                overlap_rule if rule is OverlappingFieldsCanBeMergedRule else rule
                for rule in context.validation_rules
            ),
            self._validation_rule(),
        )
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query if context.graphql_document is None else None
        if query is not None and exceeds_token_limit(query, self.limits.max_tokens):
            # Raised, this ends the request with this error, before the parser runs.
            raise limit_error(
                f"Query has more tokens than the limit QUERY_MAX_TOKENS={self.limits.max_tokens}.",
                "TOO_MANY_TOKENS",
            )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.measure is None:
            return {}
        return {"cost": cost_extension(self.limits, self.measure)}

    def _validation_rule(self) -> type[ASTValidationRule]:
        extension = self

        class QueryLimitsRule(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                extension._check(context)

        return QueryLimitsRule

    def _check(self, context: ValidationContext) -> None:
        execution = self.execution_context
        operation = get_operation_ast(context.document, execution.operation_name)
        if operation is None:
            return
        self.measure = measure_operation(
            context.schema, context, operation, execution.variables, self.limits
        )
        for error in violations(self.measure, self.limits):
            context.report_error(error)


class HideSuggestions(SchemaExtension):
    """Removes graphql-core's "Did you mean ...?" hints (which name fields, arguments, types
    and enum values of the schema) from every error a client sees."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [without_suggestion(error) for error in result.errors]


Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def query_limits(settings: Settings) -> QueryLimits:
    """The limits of `settings` (`QUERY_MAX_*`, `QUERY_VALIDATION_BUDGET`)."""
    return QueryLimits(
        max_cost=settings.query_max_cost,
        max_depth=settings.query_max_depth,
        max_aliases=settings.query_max_aliases,
        max_tokens=settings.query_max_tokens,
        validation_budget=settings.query_validation_budget,
        default_page_size=DEFAULT_PAGE_SIZE,
        scan_cost=settings.query_scan_cost,
    )


def cost_extension(limits: QueryLimits, measure: Measure) -> dict[str, Any]:
    """The response's `extensions.cost`."""
    return {"requested": measure.cost, "limit": limits.max_cost}


def hardening_extensions(settings: Settings) -> list[Extension]:
    """The schema extensions `settings` ask for: the query limits always; introspection and
    suggestions off unless enabled (`INTROSPECTION`, `FIELD_SUGGESTIONS`, `ENVIRONMENT`)."""
    limits = query_limits(settings)
    # Classes and factories, not instances: Strawberry makes one per request of each.
    extensions: list[Extension] = [partial(QueryLimitsExtension, limits=limits)]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    if not settings.field_suggestions_enabled:
        extensions.append(HideSuggestions)
    return extensions


def batching_config(settings: Settings) -> BatchingConfig | None:
    """Batches of up to `MAX_BATCH_SIZE` operations, or none (the default, 0)."""
    return {"max_operations": settings.max_batch_size} if settings.max_batch_size else None
