"""Work done once per query text instead of once per request: parsing, the specification's
validation and (gql_app/graphql/execution/) the execution plan.

All the caches are bounded LRUs of `QUERY_CACHE_SIZE` entries, so clients sending ever new
query texts cannot grow memory. Validation rules that depend on the request (the query
limits measure cost with the request's variables) are not cached: they run every time.
Documents that passed every rule once are remembered in `QueryCaches.valid`: the fast path
(gql_app/graphql/transport/fast_path.py) serves later requests for them without Strawberry's
pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from graphql import DocumentNode, GraphQLError, validate
from graphql.validation import ASTValidationRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from gql_app.core.config import Settings
from gql_app.core.lru import LRU
from gql_app.graphql.cost import MeasureMemo
from gql_app.graphql.execution.cache import PlanCache, compiled_execution

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]
# Rules of graphql-core and Strawberry depend on the document alone; the application's own
# (such as the query limits) may depend on the request.
_DOCUMENT_ONLY_MODULES = ("graphql.", "strawberry.")


def _document_only(rule: type[ASTValidationRule]) -> bool:
    return rule.__module__.startswith(_DOCUMENT_ONLY_MODULES)


class QueryCaches:
    """The caches of one schema, each of `size` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.validation: LRU[Any, list[GraphQLError]] = LRU(size)
        self.valid: LRU[str, DocumentNode] = LRU(size)  # passed every rule, at least once
        self.plans = PlanCache(size)
        self.measures = MeasureMemo(size)  # the fast path's query limits


class ReportingParserCache(ParserCache):
    """Strawberry's parser cache, leaving a syntax error to Strawberry's own parse, which
    reports it as the request's error. Raised from this hook, it escapes the streaming path
    (subscriptions over multipart) as an unexpected exception."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class CachedValidation(SchemaExtension):
    """Validates with the specification's rules once per query text; request-dependent rules
    run on every request."""

    def __init__(self, *, caches: QueryCaches) -> None:
        self.caches = caches

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors is None and document is not None and context.query:
            schema = context.schema._schema
            rules = tuple(context.validation_rules)
            cached = tuple(rule for rule in rules if _document_only(rule))
            per_request = [rule for rule in rules if not _document_only(rule)]
            key = (context.query, cached)
            errors = self.caches.validation.get(key)
            if errors is None:
                errors = validate_document(schema, document, cached)
                self.caches.validation.put(key, errors)
            refused = validate(schema, document, per_request) if per_request else []
            # Valid for the fast path once every rule passed: the request's own rules also
            # judge the document alone (fields that merge within the validation budget, at
            # most one password field), which the fast path does not check again.
            if not errors and not refused and self.caches.valid.get(context.query) is None:
                self.caches.valid.put(context.query, document)
            context.pre_execution_errors = [*errors, *refused]
        yield


def performance_extensions(settings: Settings, caches: QueryCaches) -> list[Extension]:
    """Parser and validation caches, and compiled execution when `COMPILED_EXECUTION` is on.

    They go after the hardening extensions: the token limit is checked before parsing.
    """
    extensions: list[Extension] = [
        partial(ReportingParserCache, maxsize=caches.size),
        partial(CachedValidation, caches=caches),
    ]
    if settings.compiled_execution:
        extensions.append(compiled_execution(caches.plans))
    return extensions
