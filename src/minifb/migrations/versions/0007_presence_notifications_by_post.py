"""users.active_status, users.last_active_at, notifications by post

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 12:10:00.000000

Presence (docs/decisions/0122): whether a person shows friends when they are
online and were last active (on for everyone, as before this revision nobody
could turn it off), and when their last stream socket closed. And an index of
notifications by post, to remove those about a deleted post or comment.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active_status", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_post_id", ["post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_post_id")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_active_at")
        batch_op.drop_column("active_status")
