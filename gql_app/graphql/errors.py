"""The typed errors of mutation payloads (DESIGN.md contract 6: expected outcomes are schema)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension

from gql_app.domain.input import InvalidInput


@strawberry.interface(description="An expected failure of a mutation, with a message to show.")
class Error:
    message: str = strawberry.field(description="What went wrong, in words for people.")


@strawberry.type(description="An input field is invalid; nothing was changed.")
class ValidationError(Error):
    field: str = strawberry.field(
        description="The input field at fault, named as in the schema (for example `title`)."
    )


def validation_error(exc: InvalidInput) -> ValidationError:
    """The payload member of input that breaks a rule of gql_app/domain/input.py."""
    return ValidationError(field=exc.field, message=exc.message)


@strawberry.type(description="The object does not exist (any more); nothing was changed.")
class NotFound(Error):
    pass


@strawberry.type(
    description="The mutation needs a signed-in user: send `Authorization: Bearer <token>`."
)
class NotAuthenticated(Error):
    pass


@strawberry.type(
    description="The viewer may not do this: only its author changes or deletes a post or "
    "a comment. Nothing was changed."
)
class Forbidden(Error):
    pass


@strawberry.type(description="Another account has this username; nothing was changed.")
class UsernameTaken(Error):
    pass


@strawberry.type(
    description="Another account has this email (compared ignoring case); nothing was changed."
)
class EmailTaken(Error):
    pass


@strawberry.type(
    description="The login or the password is wrong (which one is not said, so that accounts "
    "cannot be discovered)."
)
class InvalidCredentials(Error):
    pass


@strawberry.type(
    description="Too many failed password attempts for the account, or too many passwords "
    "being checked by the server at once: nothing is checked until `retryAfterSeconds` have "
    "passed."
)
class RateLimited(Error):
    retry_after_seconds: int = strawberry.field(
        description="Seconds to wait before the next attempt can succeed."
    )


class ReturnExpectedErrors(FieldExtension):
    """Answers an expected failure raised by a mutation with its payload union member."""

    def __init__(
        self, expected: tuple[type[Exception], ...], as_error: Callable[[Exception], Error]
    ) -> None:
        super().__init__()
        self.expected = expected
        self.as_error = as_error

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: strawberry.Info,
        **kwargs: Any,
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except self.expected as exc:
            return self.as_error(exc)
