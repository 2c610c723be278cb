"""Trigram indexes serving the contains filters (`posts(filter: {search})`, `username_contains`).

Each matches its filter's expression exactly, `lower(column) LIKE lower(:p) ESCAPE '\\'`
(gql_app/queries/pages.py `_contains`), so PostgreSQL answers a search from the index
instead of a scan of every row. `pg_trgm` is a trusted extension (PostgreSQL 13+): the
database owner creates it, no superuser needed. SQLite has no such index: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, its expression and operator class)
INDEXES = (
    ("ix_posts_title_lower_trgm", "posts", "lower(title) gin_trgm_ops"),
    ("ix_posts_body_lower_trgm", "posts", "lower(body) gin_trgm_ops"),
    ("ix_users_username_lower_trgm", "users", "lower(username) gin_trgm_ops"),
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in INDEXES:
        op.create_index(name, table, [sa.text(expression)], postgresql_using="gin")


def downgrade() -> None:
    """Drops the indexes; the extension stays (the owner may use it elsewhere)."""
    if op.get_context().dialect.name != "postgresql":
        return
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
