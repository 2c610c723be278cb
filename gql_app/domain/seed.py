"""Deterministic demo data: the same arguments always give the same users, posts and comments."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from gql_app import queries
from gql_app.domain.security import hash_password

DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented password of every demo user
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
USERS_PER_CHUNK = 500
WORDS = (
    "graph",
    "query",
    "async",
    "python",
    "postgres",
    "index",
    "cursor",
    "page",
    "batch",
    "loader",
    "schema",
    "field",
    "mutation",
    "token",
    "commit",
    "rollback",
    "session",
    "pool",
    "driver",
    "plan",
    "cache",
    "edge",
    "node",
)


class SeedError(Exception):
    """The database cannot take the demo data as asked."""


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words)).capitalize()


async def seed(
    session: AsyncSession,
    *,
    users: int,
    posts_per_user: int = 10,
    comments_per_post: int = 5,
    reset: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Insert `users` demo users with their posts and comments; returns the counts.

    Runs in the caller's transaction; the database must hold no users unless `reset`.
    """
    if reset:
        await queries.delete_all_users(session)
    elif await queries.count_users(session):
        raise SeedError("the database already holds users: pass --reset to replace them")
    rng = random.Random(20250101)  # noqa: S311 - reproducible demo text, not a secret
    password_hash = await hash_password(DEMO_PASSWORD)
    counts = {"users": 0, "posts": 0, "comments": 0}
    all_user_ids: list[int] = []
    with tqdm(total=users, unit="user", disable=not progress, desc="seeding") as bar:
        for start in range(0, users, USERS_PER_CHUNK):
            numbers = range(start + 1, min(users, start + USERS_PER_CHUNK) + 1)
            user_rows = [_user_row(number, password_hash) for number in numbers]
            user_ids = await queries.insert_users(session, user_rows)
            all_user_ids.extend(user_ids)
            post_rows = [
                _post_row(rng, author_id, number, index)
                for author_id, number in zip(user_ids, numbers, strict=True)
                for index in range(posts_per_user)
            ]
            post_ids = await queries.insert_posts(session, post_rows) if post_rows else []
            comment_rows = [
                _comment_row(rng, post_id, post_row["created_at"], rng.choice(all_user_ids), i)
                for post_id, post_row in zip(post_ids, post_rows, strict=True)
                for i in range(comments_per_post)
            ]
            if comment_rows:
                await queries.insert_comments(session, comment_rows)
            counts["users"] += len(user_rows)
            counts["posts"] += len(post_rows)
            counts["comments"] += len(comment_rows)
            bar.update(len(user_rows))
    return counts


def _user_row(number: int, password_hash: str) -> dict[str, Any]:
    created = EPOCH + timedelta(minutes=number)
    return {
        "username": f"user{number:05d}",
        "email": f"user{number:05d}@example.com",
        "password_hash": password_hash,
        "created_at": created,
        "updated_at": created,
    }


def _post_row(rng: random.Random, author_id: int, number: int, index: int) -> dict[str, Any]:
    created = EPOCH + timedelta(days=1, minutes=number * 7 + index * 97 + rng.randrange(60))
    return {
        "author_id": author_id,
        "title": _sentence(rng, rng.randint(3, 8)),
        "body": _sentence(rng, rng.randint(20, 60)) + ".",
        "created_at": created,
        "updated_at": created,
    }


def _comment_row(
    rng: random.Random, post_id: int, post_created: datetime, author_id: int, index: int
) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "author_id": author_id,
        "body": _sentence(rng, rng.randint(5, 20)) + ".",
        "created_at": post_created + timedelta(minutes=index * 13 + rng.randrange(10) + 1),
    }
