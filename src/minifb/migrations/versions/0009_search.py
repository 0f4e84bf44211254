"""search: the database's own full-text index of people and posts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 12:50:00.000000

docs/decisions/0124. On SQLite, two FTS5 tables whose rowid is the person's or
the post's id: people by username and display name (prefix indexes for
typeahead), posts by text (Porter stemming). On PostgreSQL, two tables of one
tsvector each with a GIN index: people in the `simple` configuration (no
stemming, prefix queries), posts in `english`. The search indexer fills them
from events, and `minifb search reindex` from the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_people USING fts5("
            "username, display_name, tokenize = 'unicode61 remove_diacritics 2', "
            "prefix = '1 2 3')"
        )
        op.execute(
            "CREATE VIRTUAL TABLE search_posts USING fts5("
            "text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        return
    for name, key in (("search_people", "user_id"), ("search_posts", "post_id")):
        op.create_table(
            name,
            sa.Column(key, sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("document", postgresql.TSVECTOR(), nullable=False),
            sa.PrimaryKeyConstraint(key, name=f"pk_{name}"),
        )
        op.create_index(f"ix_{name}_document", name, ["document"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_posts")
        op.execute("DROP TABLE search_people")
        return
    for name in ("search_posts", "search_people"):
        op.drop_index(f"ix_{name}_document", table_name=name)
        op.drop_table(name)
