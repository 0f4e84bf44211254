"""Leases in the database: one row per held number in `worker_leases` (models.worker_lease).

For tiers whose database every host shares (PostgreSQL): the store each
process needs anyway, durable once committed, and whose one clock decides
every expiry (docs/decisions/0115). SQLite works too, for several processes
over one file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from minifb.adapters.leases.base import Lease, new_holder, to_ms
from minifb.kit.db import Database, affected
from minifb.models.worker_lease import WorkerLease

# Milliseconds since 1970 on the database's clock, when the statement runs.
_NOW_MS = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


class DatabaseLeases:
    """A `LeaseStore` in the `worker_leases` table of `db`."""

    name = "the database"
    lapses = True

    def __init__(self, db: Database, *, size: int) -> None:
        self._db = db
        self.size = size
        now = literal_column(_NOW_MS[db.dialect], BigInteger)
        ms = bindparam("ms", type_=BigInteger)
        ours = (
            WorkerLease.worker_id == bindparam("number"),
            WorkerLease.holder == bindparam("lease_holder"),
        )
        self._drop_expired = delete(WorkerLease).where(WorkerLease.expires_ms <= now)
        self._held = select(WorkerLease.worker_id)
        # DO NOTHING: another process took the number since the read (or holds it
        # uncommitted; PostgreSQL waits for it to commit first), so no row comes back.
        self._take = (
            _insert_or_nothing(db.dialect)
            .values(
                worker_id=bindparam("number"), holder=bindparam("lease_holder"), expires_ms=now + ms
            )
            .returning(WorkerLease.worker_id)
        )
        self._extend = update(WorkerLease).where(*ours).values(expires_ms=now + ms)
        self._drop = delete(WorkerLease).where(*ours)

    async def acquire(self, ttl: float) -> Lease | None:
        holder = new_holder()
        async with self._db.begin() as conn:
            # The write comes first: on SQLite it takes the write lock before the
            # read, so the read cannot go stale before the insert.
            await conn.execute(self._drop_expired)
            held = set((await conn.execute(self._held)).scalars())
            for number in range(self.size):
                if number in held:
                    continue
                params = {"number": number, "lease_holder": holder, "ms": to_ms(ttl)}
                if (await conn.execute(self._take, params)).first() is not None:
                    return Lease(number, holder)
        return None

    async def renew(self, lease: Lease, ttl: float) -> bool:
        return await self._set_expiry(lease, ttl)

    async def release(self, lease: Lease, *, hold: float) -> None:
        await self._set_expiry(lease, hold)

    async def _set_expiry(self, lease: Lease, seconds: float) -> bool:
        ms = to_ms(seconds)
        params: dict[str, Any] = {"number": lease.number, "lease_holder": lease.holder, "ms": ms}
        async with self._db.begin() as conn:
            result = await conn.execute(self._extend if ms > 0 else self._drop, params)
            return affected(result) == 1

    async def close(self) -> None:
        return None  # the database is the container's, closed with it


def _insert_or_nothing(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(WorkerLease).on_conflict_do_nothing()
    return sqlite.insert(WorkerLease).on_conflict_do_nothing()
