"""Login failures, counted per account for the brute-force throttle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_login_failures_account_key_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
