"""Account mutations: register, login, logout, changePassword, updateProfile, deleteAccount.

Resolvers are thin: they call `gql_app.accounts`, which hashes off the event loop and
writes in one transaction, and turn its typed errors into payload union members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.extensions import FieldExtension

from gql_app import accounts
from gql_app.account_input import InvalidInput
from gql_app.graphql.errors import (
    EmailTaken,
    Error,
    InvalidCredentials,
    NotAuthenticated,
    RateLimited,
    ReturnExpectedErrors,
    UsernameTaken,
    ValidationError,
)
from gql_app.graphql.ids import encode_global_id
from gql_app.graphql.permissions import signed_in
from gql_app.graphql.types import Info, User
from gql_app.models import User as UserModel
from gql_app.queries import EmailTakenError, UsernameTakenError
from gql_app.throttle import RateLimitedError

ACCOUNT_ERRORS = (
    InvalidInput,
    UsernameTakenError,
    EmailTakenError,
    accounts.InvalidCredentialsError,
    RateLimitedError,
)


def _as_error(exc: Exception) -> Error:
    """The payload member of an expected failure of an account flow."""
    if isinstance(exc, InvalidInput):
        return ValidationError(field=exc.field, message=exc.message)
    if isinstance(exc, UsernameTakenError):
        return UsernameTaken(message="This username is taken; choose another.")
    if isinstance(exc, EmailTakenError):
        return EmailTaken(message="An account with this email exists; log in instead.")
    if isinstance(exc, RateLimitedError):
        seconds = exc.retry_after_seconds
        return RateLimited(
            message=f"Too many failed attempts: try again in {seconds} seconds.",
            retry_after_seconds=seconds,
        )
    return InvalidCredentials(message="The login or the password is wrong.")


def _mutation(description: str, *, needs_user: bool = False) -> Any:
    extensions: list[FieldExtension] = [ReturnExpectedErrors(ACCOUNT_ERRORS, _as_error)]
    if needs_user:
        extensions.insert(0, signed_in())
    return strawberry.mutation(description=description, extensions=extensions)


async def _viewer(info: Info) -> UserModel:
    """The signed-in user (`IsAuthenticated` has let the request through)."""
    viewer = await info.context.viewer()
    if viewer is None:
        raise LookupError("the viewer vanished after the permission check")
    return viewer


@strawberry.input(description="A new account.")
class RegisterInput:
    username: str = strawberry.field(
        description="3 to 50 letters (a-z, A-Z), digits or underscores; unique."
    )
    email: str = strawberry.field(
        description="A valid address of at most 120 characters; unique whatever its case."
    )
    password: str = strawberry.field(description="8 to 128 characters, kept whole.")


@strawberry.input(description="Who logs in, and their password.")
class LoginInput:
    login: str = strawberry.field(description="The username, or the email in any case.")
    password: str = strawberry.field(description="The password.")


@strawberry.input(description="The viewer's current password and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="8 to 128 characters, kept whole.")


@strawberry.input(description="New values for the viewer's profile; omitted fields stay.")
class UpdateProfileInput:
    username: str | None = strawberry.field(
        default=None, description="3 to 50 letters (a-z, A-Z), digits or underscores; unique."
    )
    email: str | None = strawberry.field(
        default=None, description="A valid address of at most 120 characters; unique."
    )


@strawberry.input(description="The viewer's password, confirming the deletion.")
class DeleteAccountInput:
    password: str = strawberry.field(description="The password in use now.")


@strawberry.type(description="Signed in: the user and a bearer token for the next requests.")
class AuthSuccess:
    user: User = strawberry.field(description="The signed-in user.")
    token: str = strawberry.field(
        description="Send it as `Authorization: Bearer <token>`. Shown only this once."
    )
    expires_at: datetime = strawberry.field(
        description="When the token stops working (UTC); log in again then."
    )

    @classmethod
    def of(cls, issued: accounts.IssuedToken) -> AuthSuccess:
        return cls(
            user=User.from_row(issued.user), token=issued.token, expires_at=issued.expires_at
        )


@strawberry.type(description="Logged out: the token of this request no longer works.")
class LogoutSuccess:
    token_revoked: bool = strawberry.field(
        description="Whether this call revoked it (false: it had just been revoked)."
    )


@strawberry.type(description="The password was changed; the viewer's other tokens are revoked.")
class ChangePasswordSuccess:
    user: User = strawberry.field(description="The viewer.")
    revoked_token_count: int = strawberry.field(
        description="How many other tokens were revoked (other devices are logged out)."
    )


@strawberry.type(description="The profile was changed.")
class UpdateProfileSuccess:
    user: User = strawberry.field(description="The viewer as they are now.")


@strawberry.type(description="The account, its posts, comments and tokens were deleted.")
class DeleteAccountSuccess:
    deleted_user_id: strawberry.ID = strawberry.field(description="The id the user had.")


RegisterPayload = Annotated[
    AuthSuccess | ValidationError | UsernameTaken | EmailTaken,
    strawberry.union("RegisterPayload", description="The new user and token, or why not."),
]
LoginPayload = Annotated[
    AuthSuccess | ValidationError | InvalidCredentials | RateLimited,
    strawberry.union("LoginPayload", description="A token, or why there is none."),
]
LogoutPayload = Annotated[
    LogoutSuccess | NotAuthenticated,
    strawberry.union("LogoutPayload", description="Logged out, or there was no live token."),
]
ChangePasswordPayload = Annotated[
    ChangePasswordSuccess | ValidationError | InvalidCredentials | RateLimited | NotAuthenticated,
    strawberry.union("ChangePasswordPayload", description="Changed, or why not."),
]
UpdateProfilePayload = Annotated[
    UpdateProfileSuccess | ValidationError | UsernameTaken | EmailTaken | NotAuthenticated,
    strawberry.union("UpdateProfilePayload", description="The changed profile, or why not."),
]
DeleteAccountPayload = Annotated[
    DeleteAccountSuccess | ValidationError | InvalidCredentials | RateLimited | NotAuthenticated,
    strawberry.union("DeleteAccountPayload", description="The deleted id, or why not."),
]


@strawberry.type(description="Accounts and their tokens.")
class AccountMutation:
    @_mutation("Create an account and sign in to it.")
    async def register(
        self,
        info: Info,
        input: Annotated[RegisterInput, strawberry.argument(description="The new account.")],
    ) -> RegisterPayload:
        context = info.context
        issued = await accounts.register(
            context.db,
            context.settings,
            username=input.username,
            email=input.email,
            password=input.password,
        )
        context.act_as(issued.user)
        return AuthSuccess.of(issued)

    @_mutation(
        "Sign in with a username or email (either in any case) and the password. After "
        "LOGIN_MAX_FAILURES (5) failures from one address within LOGIN_FAILURE_WINDOW_SECONDS "
        "(900), the account answers RateLimited there; more ceilings bound an account across "
        "addresses and an address across accounts."
    )
    async def login(
        self,
        info: Info,
        input: Annotated[LoginInput, strawberry.argument(description="The credentials.")],
    ) -> LoginPayload:
        context = info.context
        issued = await accounts.login(
            context.db,
            context.settings,
            login=input.login,
            password=input.password,
            address=context.client_address,
        )
        context.act_as(issued.user)
        return AuthSuccess.of(issued)

    @_mutation("Revoke the token this request was sent with.", needs_user=True)
    async def logout(self, info: Info) -> LogoutPayload:
        context = info.context
        token_hash = context.token_hash
        revoked = token_hash is not None and await accounts.logout(context.db, token_hash)
        context.act_as(None)
        return LogoutSuccess(token_revoked=revoked)

    @_mutation(
        "Change the viewer's password; every other token of theirs is revoked.", needs_user=True
    )
    async def change_password(
        self,
        info: Info,
        input: Annotated[
            ChangePasswordInput, strawberry.argument(description="The current and new password.")
        ],
    ) -> ChangePasswordPayload:
        context = info.context
        viewer = await _viewer(info)
        revoked = await accounts.change_password(
            context.db,
            context.settings,
            user=viewer,
            token_hash=context.token_hash,
            current_password=input.current_password,
            new_password=input.new_password,
            address=context.client_address,
        )
        return ChangePasswordSuccess(user=User.from_row(viewer), revoked_token_count=revoked)

    @_mutation("Change the viewer's username or email.", needs_user=True)
    async def update_profile(
        self,
        info: Info,
        input: Annotated[
            UpdateProfileInput, strawberry.argument(description="The new username or email.")
        ],
    ) -> UpdateProfilePayload:
        viewer = await _viewer(info)
        user = await accounts.update_profile(
            info.context.db,
            user=viewer,
            username=viewer.username if input.username is None else input.username,
            email=viewer.email if input.email is None else input.email,
        )
        info.context.renew_loaders()
        return UpdateProfileSuccess(user=User.from_row(user))

    @_mutation(
        "Delete the viewer's account with their posts, comments and tokens.", needs_user=True
    )
    async def delete_account(
        self,
        info: Info,
        input: Annotated[
            DeleteAccountInput, strawberry.argument(description="The password, to confirm.")
        ],
    ) -> DeleteAccountPayload:
        context = info.context
        user_id = await accounts.delete_account(
            context.db,
            context.settings,
            user=await _viewer(info),
            password=input.password,
            address=context.client_address,
        )
        context.renew_loaders()
        context.act_as(None)
        return DeleteAccountSuccess(
            deleted_user_id=strawberry.ID(encode_global_id("User", user_id))
        )
