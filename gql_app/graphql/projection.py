"""Which optional columns of its rows a field's selection reads.

A field that reads rows (a connection, root or nested, or an object looked up by id: `user`,
`post`, `node`, `nodes`, an author, a comment's post) reads their wide columns
(`queries.OPTIONAL_COLUMNS`: bodies, `updatedAt`, `email`) only when its selection names
their field. The walk is conservative: every field named anywhere in the selection counts,
whatever its fragment's type condition or directives, and a selection it does not understand
reads every column. Both execution paths (stock and compiled) decide the same way, from
graphql-core's resolve info of the field.

An object built from a row holds `UNFETCHED` in place of each column its statement did not
read: a field that reads one anyway (a projection bug) fails to serialize, an error in the
response, never a silent null.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


class ColumnNotReadError(Exception):
    """A field read a column that its object's statement did not read."""


class Unfetched:
    """The value of an attribute whose column was not read: no scalar serializes it (the
    String scalar turns other objects into their `str`, which raises here)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<column not read>"

    def __str__(self) -> str:
        raise ColumnNotReadError("a field read a column its statement did not read")


# Typed Any: it stands in for a value of any column's type.
UNFETCHED: Any = Unfetched()


# The fields that read an optional column, by GraphQL name.
COLUMN_OF_FIELD = {"body": "body", "updatedAt": "updated_at", "email": "email"}
# Where a connection's nodes are selected.
NODE_PATH = ("edges", "node")


def node_columns(info: Any) -> frozenset[str] | None:
    """The optional columns the nodes of the connection field of `info` (Strawberry's)
    select; None when all must be read."""
    return _columns(info, NODE_PATH)


def object_columns(info: Any) -> frozenset[str] | None:
    """The optional columns the object (or list of objects) of the field of `info`
    (Strawberry's) selects; None when all must be read."""
    return _columns(info, ())


def _columns(info: Any, path: tuple[str, ...]) -> frozenset[str] | None:
    raw = info._raw_info
    found: set[str] = set()
    for node in raw.field_nodes:
        if node.selection_set is not None and not _collect(
            node.selection_set, raw.fragments, path, found
        ):
            return None
    return frozenset(found)


def _collect(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    path: tuple[str, ...],
    found: set[str],
) -> bool:
    """Add the columns of the fields at the end of `path`; False if something is unknown."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if not path:
                column = COLUMN_OF_FIELD.get(name)
                if column is not None:
                    found.add(column)
            elif (
                name == path[0]
                and selection.selection_set is not None
                and not _collect(selection.selection_set, fragments, path[1:], found)
            ):
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _collect(selection.selection_set, fragments, path, found):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or not _collect(fragment.selection_set, fragments, path, found):
                return False
        else:
            return False
    return True
