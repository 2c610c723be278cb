"""Login failures as one counter row per throttle key, so that an attempt is counted
atomically (an upsert) before its password is hashed.

The old rows (one per failure, keyed by the login typed) are dropped: they only throttle
for LOGIN_FAILURE_WINDOW_SECONDS anyway.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index("ix_login_failures_account_key_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("throttle_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("throttle_key", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_window_started_at", "login_failures", ["window_started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_window_started_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_account_key_failed_at", "login_failures", ["account_key", "failed_at"]
    )
