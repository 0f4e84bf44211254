"""Whether the database's schema is at the newest migration this release knows.

A server started before its migrations ran (a new release whose migration
job has not finished, a fresh database nobody upgraded) would answer every
request with an error while `/ready` said yes. `SchemaCheck` reads the
database's Alembic revision once at start-up, says in one log line what to
do when it is behind, and is one of the readiness probes: until the schema
is at the head each probe reads the revision again (one small query), and
from then on it answers without any I/O (docs/decisions/0116).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from minifb.kit.db import Database

log = logging.getLogger("minifb.schema")

# The package the migrations live in, as Alembic names a script location.
SCRIPT_LOCATION = "minifb:migrations"
UPGRADE_HINT = "run `minifb db upgrade`"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


@dataclass(frozen=True)
class Migrations:
    """The revisions this release ships: the head(s), and every one it knows."""

    heads: frozenset[str]
    known: frozenset[str]


@cache
def shipped_migrations() -> Migrations:
    """This release's migrations (read once per process: the files do not change)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    script = ScriptDirectory.from_config(config)
    return Migrations(
        heads=frozenset(script.get_heads()),
        known=frozenset(revision.revision for revision in script.walk_revisions()),
    )


class SchemaOutdated(Exception):
    """The schema is not at the head; the message says where it is and what to do.

    It names revisions only, so readiness may show it to any caller.
    """


def _current_heads(connection: Connection) -> tuple[str, ...]:
    # What Alembic's MigrationContext reads, without the two lines it logs each time.
    if not inspect(connection).has_table(VERSION_TABLE):
        return ()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
    return tuple(str(row[0]) for row in rows)


class SchemaCheck:
    """Readiness of the schema: at the head, or not yet (and why)."""

    def __init__(
        self, db: Database, migrations: Migrations | None = None, *, poll_interval: float = 2.0
    ) -> None:
        self._db = db
        self._migrations = migrations or shipped_migrations()
        self._poll_interval = poll_interval
        self._problem: str | None = None
        self._behind = False
        self._at_head = asyncio.Event()

    @property
    def at_head(self) -> bool:
        return self._at_head.is_set()

    async def start(self) -> None:
        """Read the revision once; if it is behind, say so in one line.

        An unreachable database is left to the database's own probe (and its
        own log lines): the revision is read again by the next probe.
        """
        try:
            await self._refresh()
        except Exception as exc:
            log.debug("could not read the database schema's revision: %r", exc)
            return
        if self._problem is not None:
            log.warning("%s", self._problem)

    async def ping(self) -> None:
        """Nothing once at the head; until then, read the revision and raise
        `SchemaOutdated` while it is behind."""
        if self._at_head.is_set():
            return
        await self._refresh()
        if self._problem is not None:
            raise SchemaOutdated(self._problem)

    async def wait(self) -> None:
        """Return once the schema is at the head, reading it every `poll_interval`
        seconds meanwhile (a probe that sees it first ends the wait too)."""
        while not self._at_head.is_set():
            try:
                async with asyncio.timeout(self._poll_interval):
                    await self._at_head.wait()
            except TimeoutError:
                try:
                    await self._refresh()
                except Exception as exc:
                    log.debug("could not read the database schema's revision: %r", exc)

    async def _refresh(self) -> None:
        async with self._db.begin() as connection:
            current = await connection.run_sync(_current_heads)
        self._problem = self._describe(current)
        if self._problem is not None:
            self._behind = True
            return
        if self._at_head.is_set():
            return
        self._at_head.set()
        if not set(current) <= self._migrations.known:
            log.info(
                "database schema at %s, newer than this release's head %s: serving",
                ", ".join(current),
                ", ".join(sorted(self._migrations.heads)),
            )
        elif self._behind:
            log.info("database schema now at the head %s: ready", ", ".join(current))

    def _describe(self, current: tuple[str, ...]) -> str | None:
        """What is wrong with the schema at `current`, or None when this release may serve."""
        heads = ", ".join(sorted(self._migrations.heads))
        if not current:
            return f"database schema not migrated (head is {heads}): {UPGRADE_HINT}"
        if set(current) == self._migrations.heads:
            return None
        if not set(current) <= self._migrations.known:
            # A newer release migrated ahead of this one. Migrations keep the
            # previous release working (expand first, contract a release later),
            # so this one may serve: a rollback must be able to become ready.
            return None
        return f"database schema at {', '.join(current)}, head is {heads}: {UPGRADE_HINT}"
