"""media, users.avatar_media_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 12:50:00.000000

The media service (docs/decisions/0123): uploaded images, each attached to at
most one post or message, and the media a person's profile picture is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "ready", name="mediastatus", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.BigInteger(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("thumb_width", sa.BigInteger(), nullable=False),
        sa.Column("thumb_height", sa.BigInteger(), nullable=False),
        sa.Column("blurhash", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_media_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index("ix_media_owner_id_id", ["owner_id", "id"], unique=False)
        batch_op.create_index("ix_media_post_id", ["post_id"], unique=False)
        batch_op.create_index("ix_media_message_id", ["message_id"], unique=False)
        batch_op.create_index("ix_media_created_at", ["created_at"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avatar_media_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("avatar_media_id")

    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_created_at")
        batch_op.drop_index("ix_media_message_id")
        batch_op.drop_index("ix_media_post_id")
        batch_op.drop_index("ix_media_owner_id_id")

    op.drop_table("media")
