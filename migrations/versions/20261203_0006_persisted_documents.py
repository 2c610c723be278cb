"""Trusted documents: the operations `gql-app persist` registers from client manifests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_documents",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_documents")),
    )
    op.create_index(
        op.f("ix_persisted_documents_sha256"), "persisted_documents", ["sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_persisted_documents_sha256"), table_name="persisted_documents")
    op.drop_table("persisted_documents")
