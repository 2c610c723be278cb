"""One database state made again and again, and the rows a request left in it: what the
differential tests of mutations compare between the full path and the fast path.

`reset` empties the database and restarts its ids, `seed_state` writes the same users
(with fixed tokens and passwords), posts and comments each time, so the same mutation
makes the same ids on either path; `rows` reads every table back, leaving out the values
each run makes anew (clock times, password hashes, token hashes of new tokens).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gql_app import queries
from gql_app.core.config import load_settings
from gql_app.db import RequestSession, create_engine
from gql_app.domain.security import hash_token, password_context
from gql_app.graphql.ids import encode_global_id
from tests.support.app import EPOCH
from tests.support.postgres import _TRUNCATE

PASSWORD = "correct horse battery staple"
TOKENS = {"alice": "alice-token", "bob": "bob-token"}
TABLES = ("comments", "posts", "auth_tokens", "login_failures", "persisted_documents", "users")
# Columns whose values a run makes anew: the clock's, salted hashes, new tokens' hashes.
_VARYING = frozenset(
    ("created_at", "updated_at", "expires_at", "password_hash", "window_started_at")
)
# Response fields whose values a run makes anew.
VARYING_FIELDS = frozenset(("createdAt", "updatedAt", "expiresAt", "token", "cursor"))
_KNOWN_TOKENS = frozenset(hash_token(token) for token in TOKENS.values())


async def reset(database_url: str) -> None:
    """Empty every table and restart the ids (SQLite reuses ids from the largest left)."""
    engine = create_engine(load_settings(database_url=database_url))
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(sa.text(_TRUNCATE))
            else:
                for table in TABLES:
                    await connection.execute(sa.delete(sa.table(table)))
    finally:
        await engine.dispose()


async def seed_state(db: RequestSession) -> None:
    """alice and bob (tokens `TOKENS`, password `PASSWORD`); post 1 by alice, post 2 by bob;
    on post 1 comment 1 by alice and comment 2 by bob."""
    password_hash = password_context.hash(PASSWORD)
    async with db.transaction(write=True) as session:
        ids = {}
        for name, token in TOKENS.items():
            user = await queries.create_user(
                session, username=name, email=f"{name}@example.com", password_hash=password_hash
            )
            await queries.create_token(
                session,
                user_id=user.id,
                token_hash=hash_token(token),
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
            ids[name] = user.id
        for minute, name in enumerate(TOKENS):
            await queries.insert_post(
                session,
                author_id=ids[name],
                title=f"{name}'s post",
                body="A body",
                now=EPOCH + timedelta(minutes=minute),
            )
        for minute, name in enumerate(TOKENS):
            await queries.insert_comment(
                session,
                post_id=1,
                author_id=ids[name],
                body=f"{name}'s comment",
                now=EPOCH + timedelta(minutes=minute),
            )


def headers_of(name: str | None) -> dict[str, str]:
    """The headers of a request as `name` (None: signed out)."""
    return {"Authorization": f"Bearer {TOKENS[name]}"} if name else {}


def gid(type_name: str, pk: int) -> str:
    return encode_global_id(type_name, pk)


async def rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows in id order, but for the values a run makes anew."""
    engine = create_engine(load_settings(database_url=database_url))
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        async with engine.connect() as connection:
            for table in TABLES:
                result = await connection.execute(
                    sa.select(sa.text("*")).select_from(sa.table(table))
                )
                found[table] = sorted(
                    (
                        {
                            key: _stable(key, value)
                            for key, value in row._mapping.items()
                            if key not in _VARYING
                        }
                        for row in result
                    ),
                    key=repr,
                )
    finally:
        await engine.dispose()
    return found


def _stable(key: str, value: Any) -> Any:
    """A new token's hash is random (the known ones stay as they are); when a token was
    revoked is the clock's, that it was is not."""
    if key == "token_hash" and value not in _KNOWN_TOKENS:
        return "<new token>"
    if key == "revoked_at":
        return value is not None
    return value


def without_varying(value: Any) -> Any:
    """A response body with the values a run makes anew replaced by a placeholder."""
    if isinstance(value, dict):
        return {
            key: "<varies>" if key in VARYING_FIELDS else without_varying(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [without_varying(item) for item in value]
    return value
