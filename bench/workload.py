"""The bench's own database work: the ids requests rotate through, sign-in tokens for the
write load, and undoing what the write loads added so every server sees the same data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.operations import SIGNED_IN_USERS, Rows
from gql_app.domain.security import new_token


@dataclass(frozen=True)
class Marks:
    """The highest comment and token ids before a load: everything above was added by it."""

    comment_id: int
    token_id: int


async def read_rows(dsn: str) -> Rows:
    connection = await asyncpg.connect(dsn)
    try:
        users = await connection.fetch("SELECT id, username FROM users ORDER BY id")
        posts = await connection.fetch("SELECT id FROM posts ORDER BY id")
    finally:
        await connection.close()
    return Rows(
        user_ids=tuple(row["id"] for row in users),
        usernames=tuple(row["username"] for row in users),
        post_ids=tuple(row["id"] for row in posts),
    )


async def sign_in(dsn: str, user_ids: tuple[int, ...]) -> list[str]:
    """Bearer tokens for the first `SIGNED_IN_USERS` users, stored (hashed) as login does."""
    tokens = [new_token() for _ in user_ids[:SIGNED_IN_USERS]]
    expires = datetime.now(UTC) + timedelta(days=1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES ($1, $2, $3)",
            [(user, hashed, expires) for user, (_, hashed) in zip(user_ids, tokens, strict=False)],
        )
    finally:
        await connection.close()
    return [token for token, _ in tokens]


async def marks(dsn: str) -> Marks:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT coalesce(max(id), 0) FROM comments),"
            " (SELECT coalesce(max(id), 0) FROM auth_tokens)"
        )
    finally:
        await connection.close()
    return Marks(row[0], row[1]) if row else Marks(0, 0)


async def undo_writes(dsn: str, since: Marks) -> None:
    """Delete the comments and tokens (the write loads' and the logins') added after `since`,
    and every login throttle counter (they only last a window anyway)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("DELETE FROM comments WHERE id > $1", since.comment_id)
        await connection.execute("DELETE FROM auth_tokens WHERE id > $1", since.token_id)
        await connection.execute("DELETE FROM login_failures")
    finally:
        await connection.close()
