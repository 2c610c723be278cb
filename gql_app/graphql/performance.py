"""Work done once per query text instead of once per request: parsing, the specification's
validation and (gql_app/graphql/compiled.py) the execution plan.

All three caches are bounded LRUs of `QUERY_CACHE_SIZE` entries, so clients sending ever new
query texts cannot grow memory. Validation rules that depend on the request (the query
limits measure cost with the request's variables) are not cached: they run every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from graphql import GraphQLError, validate
from graphql.validation import ASTValidationRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from gql_app.config import Settings
from gql_app.graphql.compiled import compiled_execution
from gql_app.lru import LRU

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]
# Rules of graphql-core and Strawberry depend on the document alone; the application's own
# (such as the query limits) may depend on the request.
_DOCUMENT_ONLY_MODULES = ("graphql.", "strawberry.")


def _document_only(rule: type[ASTValidationRule]) -> bool:
    return rule.__module__.startswith(_DOCUMENT_ONLY_MODULES)


class CachedValidation(SchemaExtension):
    """Validates with the specification's rules once per query text; request-dependent rules
    run on every request."""

    def __init__(self, *, cache: LRU[Any, list[GraphQLError]]) -> None:
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors is None and document is not None and context.query:
            schema = context.schema._schema
            rules = tuple(context.validation_rules)
            cached = tuple(rule for rule in rules if _document_only(rule))
            per_request = [rule for rule in rules if not _document_only(rule)]
            key = (context.query, cached)
            errors = self.cache.get(key)
            if errors is None:
                errors = validate_document(schema, document, cached)
                self.cache.put(key, errors)
            context.pre_execution_errors = [
                *errors,
                *(validate(schema, document, per_request) if per_request else ()),
            ]
        yield


def performance_extensions(settings: Settings) -> list[Extension]:
    """Parser and validation caches, and compiled execution when `COMPILED_EXECUTION` is on.

    They go after the hardening extensions: the token limit is checked before parsing.
    """
    size = settings.query_cache_size
    extensions: list[Extension] = [
        partial(ParserCache, maxsize=size),
        partial(CachedValidation, cache=LRU(size)),
    ]
    if settings.compiled_execution:
        extensions.append(compiled_execution(size))
    return extensions
