"""index the ended logins: auth_sessions.revoked_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:00:00.000000

Every process loads the logins ended within an access token's lifetime at
start and polls for newly ended ones once a second (auth.revocations). Only
ended sessions are indexed: most logins are never revoked, they expire.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_auth_sessions_revoked_at",
            ["revoked_at"],
            unique=False,
            postgresql_where=ENDED,
            sqlite_where=ENDED,
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_sessions_revoked_at")
