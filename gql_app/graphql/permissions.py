"""Strawberry permission classes: who may resolve a field."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from gql_app.db.models import User
from gql_app.graphql.errors import NotAuthenticated


class IsAuthenticated(BasePermission):
    """The request carries a live bearer token (unexpired, unrevoked, known).

    Denied, the field answers with the `NotAuthenticated` member of its payload union, so
    every field guarded by it must have that member.
    """

    message = "Sign in first: send a live token as `Authorization: Bearer <token>`."

    async def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return await info.context.viewer() is not None

    def on_unauthorized(self) -> Any:  # returns the payload instead of raising
        return NotAuthenticated(message=self.message)


class IsThemself(BasePermission):
    """The object resolved is the viewer's own `User` (its `pk` is theirs)."""

    message = "Only the user themself may see this."

    async def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        viewer = await info.context.viewer()
        return viewer is not None and viewer.id == source.pk


def signed_in() -> FieldExtension:
    """The extension that guards a mutation with `IsAuthenticated`: the one sign-in check of
    every mutation that needs a viewer."""
    return PermissionExtension(permissions=[IsAuthenticated()], use_directives=False)


async def signed_in_viewer(info: strawberry.Info) -> User:
    """The viewer of a field guarded by `signed_in` (`IsAuthenticated` let the request in)."""
    viewer: User | None = await info.context.viewer()
    if viewer is None:
        raise LookupError("the viewer vanished after the permission check")
    return viewer


def only_to_themself() -> FieldExtension:
    """The extension that shows a field of a `User` to that user only: null to anyone else."""
    return PermissionExtension(permissions=[IsThemself()], fail_silently=True, use_directives=False)
