"""Content writes: posts and comments created, edited and deleted by their authors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app.core.events import EventKind
from gql_app.db import foreign_key_violation, violated_foreign_key
from gql_app.db.models import Comment, Post, User
from gql_app.queries.events import notifying
from gql_app.queries.rows import COMMENT_ROW, POST_ROW, Record, execute_core


class PostMissingError(Exception):
    """The post a comment was added to does not exist (any more)."""


class AuthorMissingError(Exception):
    """The author of a new post or comment has no account any more (it was just deleted)."""


_user_exists = select(User.id).where(User.id == bindparam("id"))


# The writes that publish an event (`notify=True`) on PostgreSQL NOTIFY in their own
# statement (`notifying`); elsewhere the caller publishes after them.


_insert_post = (
    insert(Post)
    .values(
        author_id=bindparam("author_id"),
        title=bindparam("title"),
        body=bindparam("body"),
        created_at=bindparam("created_at"),
        updated_at=bindparam("updated_at"),
    )
    .returning(*POST_ROW)
)
_insert_post_notifying = notifying(
    _insert_post, EventKind.POST_ADDED, post_id="id", row_id="id", author_id="author_id"
)


_update_post = (
    update(Post)
    .where(Post.id == bindparam("post_id"), Post.author_id == bindparam("owner_id"))
    .values(
        title=func.coalesce(bindparam("title", type_=Post.title.type), Post.title),
        body=func.coalesce(bindparam("body", type_=Post.body.type), Post.body),
        updated_at=bindparam("now"),
    )
    .returning(*POST_ROW)
)
_update_post_notifying = notifying(
    _update_post, EventKind.POST_UPDATED, post_id="id", row_id="id", author_id="author_id"
)


_delete_post = (
    delete(Post)
    .where(Post.id == bindparam("post_id"), Post.author_id == bindparam("author_id"))
    .returning(Post.id, Post.author_id)
)
_delete_post_notifying = notifying(
    _delete_post, EventKind.POST_DELETED, post_id="id", row_id="id", author_id="author_id"
)


_post_author_id = select(Post.author_id).where(Post.id == bindparam("post_id"))


_insert_comment = (
    insert(Comment)
    .values(
        post_id=bindparam("post_id"),
        author_id=bindparam("author_id"),
        body=bindparam("body"),
        created_at=bindparam("created_at"),
    )
    .returning(*COMMENT_ROW)
)
_insert_comment_notifying = notifying(
    _insert_comment,
    EventKind.COMMENT_ADDED,
    post_id="post_id",
    row_id="id",
    author_id="author_id",
)
# The name the naming convention gives the foreign key of a comment's author.
_COMMENT_AUTHOR_KEY = "fk_comments_author_id_users"


_delete_comment = (
    delete(Comment)
    .where(Comment.id == bindparam("comment_id"), Comment.author_id == bindparam("author_id"))
    .returning(Comment.id)
)


_comment_author_id = select(Comment.author_id).where(Comment.id == bindparam("comment_id"))


def _written(row: Record, columns: int) -> Record:
    """A row a write returned, without the column `notifying` adds to its `columns`."""
    return row if len(row) == columns else tuple(row)[:columns]


async def insert_post(
    session: AsyncSession,
    *,
    author_id: int,
    title: str,
    body: str,
    now: datetime,
    notify: bool = False,
) -> Record:
    """Insert a post (and NOTIFY its event if `notify`); raises `AuthorMissingError` when
    the author's account is gone.

    The viewer is looked up before the unit of work: its account can be deleted in between,
    and the foreign key (a post's only one) decides (DESIGN.md contract 5).
    """
    values = {"author_id": author_id, "title": title, "body": body}
    statement = _insert_post_notifying if notify else _insert_post
    try:
        result = await execute_core(
            session, statement, values | {"created_at": now, "updated_at": now}
        )
    except IntegrityError as exc:
        if not foreign_key_violation(exc):
            raise
        raise AuthorMissingError from None
    return _written(result.one(), len(POST_ROW))


async def update_post(
    session: AsyncSession,
    *,
    post_id: int,
    author_id: int,
    title: str | None,
    body: str | None,
    now: datetime,
    notify: bool = False,
) -> Record | None:
    """Change the fields given (None keeps one) of a post of `author_id` (and NOTIFY its
    event if `notify`); None if no such post (nothing notified)."""
    result = await execute_core(
        session,
        _update_post_notifying if notify else _update_post,
        {"post_id": post_id, "owner_id": author_id, "title": title, "body": body, "now": now},
    )
    row = result.one_or_none()
    return _written(row, len(POST_ROW)) if row is not None else None


async def delete_post(
    session: AsyncSession, *, post_id: int, author_id: int, notify: bool = False
) -> bool:
    """Delete a post of `author_id` and, by cascade, its comments (and NOTIFY its event if
    `notify`); False if no such post (nothing notified)."""
    result = await execute_core(
        session,
        _delete_post_notifying if notify else _delete_post,
        {"post_id": post_id, "author_id": author_id},
    )
    return result.one_or_none() is not None


async def post_author_id(session: AsyncSession, post_id: int) -> int | None:
    """The author of a post, or None if there is no such post."""
    return (await execute_core(session, _post_author_id, {"post_id": post_id})).scalar_one_or_none()


async def insert_comment(
    session: AsyncSession,
    *,
    post_id: int,
    author_id: int,
    body: str,
    now: datetime,
    notify: bool = False,
) -> Record:
    """Insert a comment (and NOTIFY its event if `notify`); raises `PostMissingError` when
    the post does not exist, or `AuthorMissingError` when the author's account is gone (see
    `insert_post`).

    The foreign keys decide (DESIGN.md contract 5). PostgreSQL names the key that failed
    (its transaction is then aborted, and the caller's unit rolls back). SQLite names none:
    the author's account is looked up after the failure, in the same transaction, which a
    failed statement leaves usable there. No savepoint: it cost two round trips per
    comment.
    """
    values = {"post_id": post_id, "author_id": author_id, "body": body, "created_at": now}
    statement = _insert_comment_notifying if notify else _insert_comment
    try:
        return _written((await execute_core(session, statement, values)).one(), len(COMMENT_ROW))
    except IntegrityError as exc:
        if not foreign_key_violation(exc):
            raise
        key = violated_foreign_key(exc)
    if key is not None:
        author_missing = key == _COMMENT_AUTHOR_KEY
    else:
        author_missing = (
            await execute_core(session, _user_exists, {"id": author_id})
        ).first() is None
    raise AuthorMissingError if author_missing else PostMissingError


async def delete_comment(session: AsyncSession, *, comment_id: int, author_id: int) -> bool:
    """Delete a comment of `author_id`; False if there is no such comment."""
    result = await execute_core(
        session, _delete_comment, {"comment_id": comment_id, "author_id": author_id}
    )
    return result.one_or_none() is not None


async def comment_author_id(session: AsyncSession, comment_id: int) -> int | None:
    """The author of a comment, or None if there is no such comment."""
    result = await execute_core(session, _comment_author_id, {"comment_id": comment_id})
    return result.scalar_one_or_none()
