"""Mutations of posts and comments, each one transaction (DESIGN.md contract 2).

Every expected failure is a typed error in the payload union; a request without a viewer
gets `NotAuthenticated` (`signed_in`) before the resolver runs. The viewer is looked up
before the transaction opens (the session's lock is not re-entrant); the writes run in one
`run(..., write=True)`, so an exception anywhere inside leaves nothing written, and a unit
that met a statement made stale by a migration is rerun once.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app import queries
from gql_app.core.errors import BadUserInput
from gql_app.core.events import Event, EventKind
from gql_app.db import models
from gql_app.domain.events import notifies_in_statement, publish
from gql_app.domain.input import InvalidInput, text
from gql_app.graphql.errors import (
    Error,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ReturnExpectedErrors,
    ValidationError,
    validation_error,
)
from gql_app.graphql.ids import decode_id_of
from gql_app.graphql.permissions import signed_in, signed_in_viewer
from gql_app.graphql.types import Comment, Edge, Info, Post

BODY_MAX = 10_000


class Rejected(Exception):
    """An expected failure: the mutation answers with `error` as its payload."""

    def __init__(self, error: Error) -> None:
        super().__init__(error.message)
        self.error = error


def _rejection_error(exc: Exception) -> Error:
    if isinstance(exc, InvalidInput):
        return validation_error(exc)
    return cast(Rejected, exc).error  # only `Rejected` and `InvalidInput` are caught for this


def mutation(description: str) -> Any:
    """A mutation field of the signed-in viewer, whose resolver may raise `Rejected` or
    `InvalidInput`."""
    return strawberry.mutation(
        description=description,
        extensions=[
            signed_in(),
            ReturnExpectedErrors((Rejected, InvalidInput), _rejection_error),
        ],
    )


async def _viewer_id(info: Info) -> int:
    return (await signed_in_viewer(info)).id


async def _unchanged_viewer(info: Info) -> models.User | None:
    """The viewer as signed in, unless an earlier write of the request may have changed
    their row: what `_renew_loaders` may remember. Call it before the write."""
    return None if info.context.db.wrote else await signed_in_viewer(info)


def _renew_loaders(info: Info, viewer: models.User | None) -> None:
    """Forget what the loaders read before the write, but remember `viewer` (the author of
    the row written, read at sign-in from the primary), if given: reading the new row's
    author back then costs no statement."""
    info.context.renew_loaders()
    if viewer is not None:
        info.context.loaders.users.prime_whole(viewer.id, queries.user_record(viewer))


def _account_deleted() -> Rejected:
    """The viewer's account was deleted after it signed the request in."""
    return Rejected(NotAuthenticated(message="Your account no longer exists: it was deleted."))


def _id(field: str, global_id: strawberry.ID, type_name: str) -> int:
    try:
        return decode_id_of(global_id, type_name)
    except BadUserInput:
        raise Rejected(
            ValidationError(field=field, message=f"This is not the id of a {type_name}.")
        ) from None


def _absent_or_forbidden(author_id: int | None, what: str) -> Rejected:
    """Why a write limited to the viewer's own rows found none: no such row, or not theirs."""
    if author_id is None:
        return Rejected(NotFound(message=f"There is no such {what}."))
    return Rejected(Forbidden(message=f"Only its author may change or delete a {what}."))


@strawberry.input(description="A new post.")
class CreatePostInput:
    title: str = strawberry.field(description="1 to 200 characters; trimmed.")
    body: str = strawberry.field(description="1 to 10,000 characters; trimmed.")


@strawberry.input(description="New values for a post of the viewer; omitted fields stay.")
class UpdatePostInput:
    id: strawberry.ID = strawberry.field(description="The `Post` to change.")
    title: str | None = strawberry.field(
        default=None, description="A new title, 1 to 200 characters; trimmed."
    )
    body: str | None = strawberry.field(
        default=None, description="A new body, 1 to 10,000 characters; trimmed."
    )


@strawberry.input(description="A post of the viewer to delete.")
class DeletePostInput:
    id: strawberry.ID = strawberry.field(description="The `Post` to delete.")


@strawberry.input(description="A new comment.")
class AddCommentInput:
    post_id: strawberry.ID = strawberry.field(description="The `Post` to comment on.")
    body: str = strawberry.field(description="1 to 10,000 characters; trimmed.")


@strawberry.input(description="A comment of the viewer to delete.")
class DeleteCommentInput:
    id: strawberry.ID = strawberry.field(description="The `Comment` to delete.")


@strawberry.type(description="The post was created.")
class CreatePostSuccess:
    post: Post = strawberry.field(description="The new post.")
    post_edge: Edge[Post] = strawberry.field(
        description="The new post as an edge, whose cursor is valid in its author's `posts` "
        "and in `Query.posts` newest first (for Relay's `@prependEdge`)."
    )


@strawberry.type(description="The post was changed.")
class UpdatePostSuccess:
    post: Post = strawberry.field(description="The post as it is now.")


@strawberry.type(description="The post and its comments were deleted.")
class DeletePostSuccess:
    deleted_post_id: strawberry.ID = strawberry.field(description="The id the post had.")


@strawberry.type(description="The comment was added.")
class AddCommentSuccess:
    comment: Comment = strawberry.field(description="The new comment.")
    comment_edge: Edge[Comment] = strawberry.field(
        description="The new comment as an edge, whose cursor is valid in its post's "
        "`comments` (for Relay's `@appendEdge`)."
    )


@strawberry.type(description="The comment was deleted.")
class DeleteCommentSuccess:
    deleted_comment_id: strawberry.ID = strawberry.field(description="The id the comment had.")


CreatePostPayload = Annotated[
    CreatePostSuccess | ValidationError | NotAuthenticated,
    strawberry.union("CreatePostPayload", description="The new post, or why there is none."),
]
UpdatePostPayload = Annotated[
    UpdatePostSuccess | ValidationError | NotAuthenticated | NotFound | Forbidden,
    strawberry.union("UpdatePostPayload", description="The changed post, or why it is not."),
]
DeletePostPayload = Annotated[
    DeletePostSuccess | ValidationError | NotAuthenticated | NotFound | Forbidden,
    strawberry.union("DeletePostPayload", description="The deleted id, or why it is not."),
]
AddCommentPayload = Annotated[
    AddCommentSuccess | ValidationError | NotAuthenticated | NotFound,
    strawberry.union("AddCommentPayload", description="The new comment, or why there is none."),
]
DeleteCommentPayload = Annotated[
    DeleteCommentSuccess | ValidationError | NotAuthenticated | NotFound | Forbidden,
    strawberry.union("DeleteCommentPayload", description="The deleted id, or why it is not."),
]


@strawberry.type(description="Writing posts and comments.")
class ContentMutation:
    @mutation("Write a post as the viewer.")
    async def create_post(
        self,
        info: Info,
        input: Annotated[CreatePostInput, strawberry.argument(description="The post to write.")],
    ) -> CreatePostPayload:
        author_id = await _viewer_id(info)
        viewer = await _unchanged_viewer(info)
        title = text(input.title, field="title", max_length=models.TITLE_MAX)
        body = text(input.body, field="body", max_length=BODY_MAX)
        now = models.utcnow()

        async def insert(session: AsyncSession) -> queries.Record:
            notified = notifies_in_statement(session)
            row = await queries.insert_post(
                session, author_id=author_id, title=title, body=body, now=now, notify=notified
            )
            if not notified:
                await publish(session, Event(EventKind.POST_ADDED, row[0], row[0], author_id))
            return row

        try:
            row = await info.context.db.run(insert, write=True)
        except queries.AuthorMissingError:
            raise _account_deleted() from None
        _renew_loaders(info, viewer)
        post = Post.from_row(row)
        edge = Edge(node=post, row=row, keyset=queries.USER_POSTS.keyset)
        return CreatePostSuccess(post=post, post_edge=edge)

    @mutation("Change the title or body (or both) of a post of the viewer.")
    async def update_post(
        self,
        info: Info,
        input: Annotated[
            UpdatePostInput, strawberry.argument(description="The post and its new values.")
        ],
    ) -> UpdatePostPayload:
        author_id = await _viewer_id(info)
        viewer = await _unchanged_viewer(info)
        post_id = _id("id", input.id, "Post")
        if input.title is None and input.body is None:
            raise Rejected(ValidationError(field="title", message="Give a new title or body."))
        title = (
            text(input.title, field="title", max_length=models.TITLE_MAX)
            if input.title is not None
            else None
        )
        body = (
            text(input.body, field="body", max_length=BODY_MAX) if input.body is not None else None
        )

        async def update(session: AsyncSession) -> queries.Record:
            notified = notifies_in_statement(session)
            row = await queries.update_post(
                session,
                post_id=post_id,
                author_id=author_id,
                title=title,
                body=body,
                now=models.utcnow(),
                notify=notified,
            )
            if row is None:
                author = await queries.post_author_id(session, post_id)
                raise _absent_or_forbidden(author, "post")
            if not notified:
                await publish(session, Event(EventKind.POST_UPDATED, post_id, post_id, author_id))
            return row

        row = await info.context.db.run(update, write=True)
        _renew_loaders(info, viewer)
        return UpdatePostSuccess(post=Post.from_row(row))

    @mutation("Delete a post of the viewer, and all its comments.")
    async def delete_post(
        self,
        info: Info,
        input: Annotated[DeletePostInput, strawberry.argument(description="The post to delete.")],
    ) -> DeletePostPayload:
        author_id = await _viewer_id(info)
        post_id = _id("id", input.id, "Post")

        async def delete(session: AsyncSession) -> None:
            notified = notifies_in_statement(session)
            if not await queries.delete_post(
                session, post_id=post_id, author_id=author_id, notify=notified
            ):
                author = await queries.post_author_id(session, post_id)
                raise _absent_or_forbidden(author, "post")
            if not notified:
                await publish(session, Event(EventKind.POST_DELETED, post_id, post_id, author_id))

        await info.context.db.run(delete, write=True)
        info.context.renew_loaders()
        return DeletePostSuccess(deleted_post_id=input.id)

    @mutation("Comment on a post as the viewer.")
    async def add_comment(
        self,
        info: Info,
        input: Annotated[
            AddCommentInput, strawberry.argument(description="The post and the comment.")
        ],
    ) -> AddCommentPayload:
        author_id = await _viewer_id(info)
        viewer = await _unchanged_viewer(info)
        post_id = _id("postId", input.post_id, "Post")
        body = text(input.body, field="body", max_length=BODY_MAX)
        now = models.utcnow()

        async def insert(session: AsyncSession) -> queries.Record:
            notified = notifies_in_statement(session)
            row = await queries.insert_comment(
                session, post_id=post_id, author_id=author_id, body=body, now=now, notify=notified
            )
            if not notified:
                await publish(session, Event(EventKind.COMMENT_ADDED, post_id, row[0], author_id))
            return row

        try:
            row = await info.context.db.run(insert, write=True)
        except queries.PostMissingError:
            raise Rejected(NotFound(message="There is no such post.")) from None
        except queries.AuthorMissingError:
            raise _account_deleted() from None
        _renew_loaders(info, viewer)
        comment = Comment.from_row(row)
        edge = Edge(node=comment, row=row, keyset=queries.POST_COMMENTS.keyset)
        return AddCommentSuccess(comment=comment, comment_edge=edge)

    @mutation("Delete a comment of the viewer.")
    async def delete_comment(
        self,
        info: Info,
        input: Annotated[
            DeleteCommentInput, strawberry.argument(description="The comment to delete.")
        ],
    ) -> DeleteCommentPayload:
        author_id = await _viewer_id(info)
        comment_id = _id("id", input.id, "Comment")

        async def delete(session: AsyncSession) -> None:
            if not await queries.delete_comment(
                session, comment_id=comment_id, author_id=author_id
            ):
                author = await queries.comment_author_id(session, comment_id)
                raise _absent_or_forbidden(author, "comment")

        await info.context.db.run(delete, write=True)
        info.context.renew_loaders()
        return DeleteCommentSuccess(deleted_comment_id=input.id)
