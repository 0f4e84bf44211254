"""notifications, dead letters, muted notification types

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:35:31.273365

The notifications service's tables (a grouped notification's people in
`notification_actors`), the events consumers parked after their last attempt
(`dead_letters`), and the notification types each person turned off.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("consumer", "event_id", name=op.f("uq_dead_letters_consumer_event_id")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_event_id"), ["event_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "friend_request",
                "friend_accepted",
                "post_comment",
                "comment_reply",
                "post_reaction",
                "mention",
                name="notificationtype",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_count", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("comment_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_notifications_actor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_user_id_position", ["user_id", "position"], unique=False
        )
        batch_op.create_index(
            "uq_notifications_unread_reactions",
            ["user_id", "post_id"],
            unique=True,
            postgresql_where=sa.text("type = 'post_reaction' AND read_at IS NULL"),
            sqlite_where=sa.text("type = 'post_reaction' AND read_at IS NULL"),
        )

    op.create_table(
        "notification_actors",
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_actors_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", "actor_id", name=op.f("pk_notification_actors")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "muted_notifications", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("muted_notifications")

    op.drop_table("notification_actors")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_notifications_unread_reactions",
            postgresql_where=sa.text("type = 'post_reaction' AND read_at IS NULL"),
            sqlite_where=sa.text("type = 'post_reaction' AND read_at IS NULL"),
        )
        batch_op.drop_index("ix_notifications_user_id_position")
        batch_op.drop_index(batch_op.f("ix_notifications_actor_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_event_id"))

    op.drop_table("dead_letters")
