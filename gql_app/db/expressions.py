"""SQL constructs compiled per dialect (`one_of`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class _OneOf(ColumnElement[bool]):
    """`column` equals one of the values of the list bound to `name` (see `one_of`)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it is: no `= 1` where booleans are not native
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration is a list
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str) -> None:
        self.column = column
        self.name = name


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str
) -> ColumnElement[bool]:
    """`column IN` the list of values bound to `name`, as each dialect runs it best.

    PostgreSQL takes the list as one array (`column = ANY($1::BIGINT[])`): one statement text
    for any length, so it is prepared once and binds one parameter however many ids a batch
    has. Elsewhere the list expands into an `IN (...)` of one parameter per value.
    """
    return _OneOf(column, name)


@compiles(_OneOf)
def _compile_one_of(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    expanded = element.column.in_(bindparam(element.name, expanding=True))
    return compiler.process(expanded, **kw)


@compiles(_OneOf, "postgresql")
def _compile_one_of_postgresql(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)
