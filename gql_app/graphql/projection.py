"""Which optional columns of related rows a connection field's selection reads.

A nested connection (`User.posts`, `User.comments`, `Post.comments`) reads its rows' wide
columns (`OPTIONAL_COLUMNS` of gql_app/queries/pages.py: bodies, `updatedAt`) only when its
nodes select their field. The walk is conservative: every field named anywhere in the
nodes' selection counts, whatever its fragment's type condition or directives, and a
selection it does not understand reads every column. Both execution paths (stock and
compiled) decide the same way, from graphql-core's resolve info of the connection field.
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

# The node fields that read an optional column, by GraphQL name.
COLUMN_OF_FIELD = {"body": "body", "updatedAt": "updated_at"}
# Where a connection's nodes are selected.
NODE_PATH = ("edges", "node")


def node_columns(info: Any) -> frozenset[str] | None:
    """The optional columns the nodes of the connection field of `info` (Strawberry's)
    select; None when all must be read."""
    raw = info._raw_info
    found: set[str] = set()
    for node in raw.field_nodes:
        if node.selection_set is not None and not _collect(
            node.selection_set, raw.fragments, NODE_PATH, found
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
