"""Bulk seeding SQL: many users, posts and comments at once (COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    delete,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession

from gql_app.db import copy_records
from gql_app.db.models import Comment, Post, User

_insert_user_ids = insert(User).returning(User.id, sort_by_parameter_order=True)


_insert_post_ids = insert(Post).returning(Post.id, sort_by_parameter_order=True)


_insert_comments = insert(Comment)


async def insert_users(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk insert; the new ids, in the order of `rows`."""
    return list((await session.execute(_insert_user_ids, rows)).scalars())


async def insert_posts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk insert; the new ids, in the order of `rows`."""
    return list((await session.execute(_insert_post_ids, rows)).scalars())


_COMMENT_COLUMNS = ("post_id", "author_id", "body", "created_at")


async def insert_comments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert, with COPY where the database has it (comments are the bulk of demo data)."""
    records = [tuple(row[column] for column in _COMMENT_COLUMNS) for row in rows]
    if not await copy_records(session, Comment.__tablename__, _COMMENT_COLUMNS, records):
        await session.execute(_insert_comments, rows)


async def delete_all_users(session: AsyncSession) -> None:
    """Delete every user, and so (by cascade) every post, comment and token."""
    await session.execute(delete(User))
