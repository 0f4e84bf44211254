"""Alembic migrations; one history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    """An Alembic config for this package's scripts; no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", "minifb:migrations")
    # ConfigParser interpolates '%': escape it so passwords survive.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)
