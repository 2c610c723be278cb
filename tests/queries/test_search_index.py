"""The contains filters are served by trigram indexes on PostgreSQL (migration 0005)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from gql_app import queries
from gql_app.db import RequestSession
from gql_app.db.models import Base, Post, User
from gql_app.queries import pages
from tests.support.app import EPOCH
from tests.support.postgres import _asyncpg_dsn

POSTS = 20_000


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    found = [plan]
    for child in plan.get("Plans", ()):
        found.extend(_nodes(child))
    return found


async def _index_scans(database_url: str, table: type[Base], name: str) -> set[str]:
    """The indexes bitmap-scanned in the plan of the count statement filtered by `name`, built
    by gql_app/queries/pages.py and explained, with its parameter bound, on a plain asyncpg
    connection."""
    statement = pages._count_statement(table, (name,))
    sql = str(statement.compile(dialect=asyncpg_dialect()))  # type: ignore[no-untyped-call]
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        # As autovacuum would: new rows move from the indexes' pending lists into the
        # indexes, and the planner learns the table's size.
        await connection.execute("VACUUM ANALYZE")
        prepared = await connection.prepare(sql)
        [explained] = await prepared.explain(queries.contains_pattern("needle"))
    finally:
        await connection.close()
    nodes = _nodes(explained["Plan"])
    return {node["Index Name"] for node in nodes if node["Node Type"] == "Bitmap Index Scan"}


async def _fill(db: RequestSession) -> None:
    async with db.transaction(write=True) as session:
        [author] = await queries.insert_users(
            session, [{"username": "alice", "email": "a@example.com", "password_hash": "-"}]
        )
        await queries.insert_users(
            session,
            [
                {"username": f"user{n}", "email": f"u{n}@example.com", "password_hash": "-"}
                for n in range(POSTS)
            ],
        )
        await queries.insert_posts(
            session,
            [
                {
                    "author_id": author,
                    "title": f"title {n}",
                    "body": f"body of post {n} " * 5,
                    "created_at": EPOCH,
                }
                for n in range(POSTS)
            ],
        )


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_post_search_is_answered_from_the_trigram_indexes(
    db: RequestSession, database_url: str
) -> None:
    await _fill(db)
    assert await _index_scans(database_url, Post, "search") == {
        "ix_posts_title_lower_trgm",
        "ix_posts_body_lower_trgm",
    }


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_username_search_is_answered_from_its_trigram_index(
    db: RequestSession, database_url: str
) -> None:
    await _fill(db)
    assert await _index_scans(database_url, User, "username_contains") == {
        "ix_users_username_lower_trgm"
    }
