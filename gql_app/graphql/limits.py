"""Limits against hostile queries: cost, depth, aliases and tokens; no "Did you mean" hints.

`QueryLimitsExtension` checks every operation before it runs (measured by
gql_app/graphql/cost.py), and reports its cost in the response (`extensions.cost`). Tokens
are the document's lexical tokens (comments and commas excluded). graphql-core's check that
same-named fields can be merged, quadratic in their number, runs on a budget of work of its
own (`QUERY_VALIDATION_BUDGET`). An operation may check at most one password
(gql_app/graphql/password_fields.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSyntaxError,
    ValidationContext,
    ValidationRule,
    get_operation_ast,
)
from graphql.language import Lexer, Source, TokenKind
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import BatchingConfig

from gql_app.core.config import Settings
from gql_app.core.paging import DEFAULT_PAGE_SIZE
from gql_app.graphql.cost import Measure, measure_operation
from gql_app.graphql.observation import observe_cost
from gql_app.graphql.password_fields import password_fields_error

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
        observe_cost(self.measure.cost)
        for error in violations(self.measure, self.limits):
            context.report_error(error)
        password_error = password_fields_error(context, operation)
        if password_error is not None:
            context.report_error(password_error)


class HideSuggestions(SchemaExtension):
    """Removes graphql-core's "Did you mean ...?" hints (which name fields, arguments, types
    and enum values of the schema) from every error a client sees."""

    def on_operation(self) -> Iterator[None]:
        yield
        _hide_suggestions(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription (or an operation over a socket), before it is sent."""
        _hide_suggestions(result)
        yield


def _hide_suggestions(result: Any) -> None:
    if result is not None and getattr(result, "errors", None):
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
