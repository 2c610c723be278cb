"""Input Python parses but cannot pass on: lone surrogates and over-long integers.

JSON's `\\ud800` escape decodes to a string that cannot be encoded as UTF-8, so no database,
log line or response could take it; an integer of more digits than Python converts
(`sys.get_int_max_str_digits()`, 4300 by default) cannot be read at all. Both are refused
where they enter: the request's JSON (gql_app/graphql/transport/http.py, a 400) and the
document's Int literals (`RefuseOverlongIntegers`, a GraphQL error with code
BAD_USER_INPUT). The parser refuses a surrogate escape in a string literal of the document
by itself.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from graphql import GraphQLError, IntValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

MAX_INTEGER_DIGITS = sys.get_int_max_str_digits() or sys.maxsize
LONE_SURROGATE = (
    "The request has a lone UTF-16 surrogate (a \\ud800 to \\udfff escape without its pair): "
    "strings must be valid Unicode."
)
_DIGIT_RUN = re.compile(rf"\d{{{min(MAX_INTEGER_DIGITS, 1 << 20) + 1}}}")


def overlong_integer(digits: str) -> str | None:
    """Why the integer spelt `digits` (a sign allowed) is refused, or None if it can be read."""
    count = len(digits.lstrip("+-"))
    if count <= MAX_INTEGER_DIGITS:
        return None
    return f"A number has {count:,} digits; at most {MAX_INTEGER_DIGITS:,} are accepted."


def has_lone_surrogate(value: object) -> bool:
    """Whether any string of parsed JSON `value`, object keys included, has a lone surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class _OverlongIntegers(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[GraphQLError] = []

    def enter_int_value(self, node: IntValueNode, *_: object) -> None:
        problem = overlong_integer(node.value)
        if problem is not None:
            self.errors.append(GraphQLError(problem, node, extensions={"code": "BAD_USER_INPUT"}))


class RefuseOverlongIntegers(SchemaExtension):
    """Ends a request whose document has an Int literal too long to read, after parsing.

    Validation would otherwise meet it converting the literal and fail with Python's own
    message. The document is walked only when its text has so long a run of digits.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.query is None or context.graphql_document is None:
            return
        if _DIGIT_RUN.search(context.query) is None:
            return
        visitor = _OverlongIntegers()
        visit(context.graphql_document, visitor)
        if visitor.errors:
            raise visitor.errors[0]
