"""Usernames unique ignoring case (display case kept), as emails already are.

Refuses, changing nothing, when existing usernames differ only in case: those accounts
have to be renamed first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLLIDING = sa.text(
    "SELECT count(*) FROM users WHERE lower(username) IN"
    " (SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1)"
)


class CollidingUsernamesError(RuntimeError):
    """Existing usernames differ only in case, so they cannot be made unique ignoring case."""


def upgrade() -> None:
    colliding = op.get_bind().execute(_COLLIDING).scalar_one()
    if colliding:
        raise CollidingUsernamesError(
            f"{colliding} usernames differ from another only in case;"
            " rename them before upgrading (nothing was changed)"
        )
    op.create_index(
        "uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_users_username_lower", table_name="users")
