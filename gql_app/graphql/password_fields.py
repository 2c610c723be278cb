"""At most one field that checks or hashes a password per operation (`TOO_MANY_PASSWORD_FIELDS`).

Each such field costs an argon2id hash (tens of milliseconds of CPU, 64 MiB), however small
its text: a 2.7 KB request with 30 aliased `login` fields ran 30 of them. An operation that
would run two or more is refused before anything executes. What would run is counted as
execution merges it: the mutation's root fields by response key (an alias is a field of its
own; one field reached through several fragment spreads is one), fragments and inline
fragments expanded, `@skip`/`@include` ignored (an upper bound, like the cost). The fast
path serves only texts that passed it on the full path (`QueryCaches.valid`).
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.validation import ASTValidationContext

PASSWORD_FIELDS = frozenset({"register", "login", "changePassword", "deleteAccount"})
MAX_PASSWORD_FIELDS = 1


def password_fields(context: ASTValidationContext, operation: OperationDefinitionNode) -> list[str]:
    """The response keys of the password fields `operation` would run, in document order."""
    if operation.operation is not OperationType.MUTATION:
        return []
    keys: dict[str, None] = {}
    expanded: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop(0).selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in PASSWORD_FIELDS:
                    keys[(selection.alias or selection.name).value] = None
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = context.get_fragment(name)
                if fragment is not None and name not in expanded:  # cycles end here
                    expanded.add(name)
                    pending.append(fragment.selection_set)
    return list(keys)


def password_fields_error(
    context: ASTValidationContext, operation: OperationDefinitionNode
) -> GraphQLError | None:
    """The error refusing `operation` when it would check more than one password."""
    keys = password_fields(context, operation)
    if len(keys) <= MAX_PASSWORD_FIELDS:
        return None
    return GraphQLError(
        f"The operation checks {len(keys)} passwords ({', '.join(keys[:5])}"
        f"{', ...' if len(keys) > 5 else ''}); send at most {MAX_PASSWORD_FIELDS} of "
        "register, login, changePassword and deleteAccount per operation.",
        extensions={"code": "TOO_MANY_PASSWORD_FIELDS"},
    )
