"""A process's worker id lease: taken, renewed, lost, given back; and what minting does meanwhile.

Each test has a generator of its own (not the process's), so what it checks
is what this lease granted. The outage tests freeze a Redis of the test's own
(`redis_server`); the database ones run on the test's database (SQLite, or
PostgreSQL with `MINIFB_TEST_DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from unittest.mock import ANY

import pytest
import redis.asyncio
from sqlalchemy import text

from minifb.adapters.leases import FileLeases, Lease, LeaseStore, RedisLeases
from minifb.kit.db import Database
from minifb.kit.db_leases import DatabaseLeases
from minifb.kit.ids import IdGenerator, WorkerIdUnavailable, id_time, worker_of
from minifb.kit.worker_ids import WorkerIdLease
from tests.fixtures.deadline import bounded, until
from tests.fixtures.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, imported for the tests below

SIZE = 8


def mints_under(generator: IdGenerator) -> int:
    return worker_of(generator.next_id())


async def started(store: LeaseStore, ttl: float) -> tuple[WorkerIdLease, IdGenerator]:
    """A lease on `store` granting a generator of its own, started with id 0 leased."""
    generator = IdGenerator()
    lease = WorkerIdLease(store, ttl=ttl, generator=generator)
    assert await lease.start() == 0
    return lease, generator


class TestTaking:
    @bounded(20)
    async def test_a_started_lease_grants_its_id_and_stop_withdraws_it(
        self, tmp_path: Path
    ) -> None:
        generator = IdGenerator()
        lease = WorkerIdLease(FileLeases(tmp_path, size=SIZE), ttl=6, generator=generator)
        assert await lease.start() == 0
        assert lease.worker_id == 0
        assert lease.problem is None
        assert mints_under(generator) == 0
        await lease.check()
        await lease.stop()
        with pytest.raises(WorkerIdUnavailable):
            generator.next_id()
        with pytest.raises(WorkerIdUnavailable):
            await lease.check()

    @bounded(20)
    async def test_processes_on_one_store_mint_under_distinct_ids(self, tmp_path: Path) -> None:
        generators = [IdGenerator() for _ in range(3)]
        leases = [
            WorkerIdLease(FileLeases(tmp_path, size=SIZE), ttl=6, generator=g) for g in generators
        ]
        assert await asyncio.gather(*(lease.start() for lease in leases)) == [0, 1, 2]
        minted = [[g.next_id() for _ in range(2000)] for g in generators]
        assert len({i for batch in minted for i in batch}) == 6000
        assert [{worker_of(i) for i in batch} for batch in minted] == [{0}, {1}, {2}]
        for lease in leases:
            await lease.stop()

    @bounded(20)
    async def test_with_every_id_held_start_says_so_and_minting_is_refused(
        self, tmp_path: Path
    ) -> None:
        holder = WorkerIdLease(FileLeases(tmp_path, size=1), ttl=6, generator=IdGenerator())
        await holder.start()
        generator = IdGenerator()
        late = WorkerIdLease(FileLeases(tmp_path, size=1), ttl=6, generator=generator)
        assert await late.start() is None
        assert late.problem == "every worker id in lock files is held"
        with pytest.raises(WorkerIdUnavailable):
            generator.next_id()
        await holder.stop()  # frees the one id: the late one's retries take it
        await until(lambda: late.worker_id == 0)
        assert mints_under(generator) == 0
        await late.stop()


@pytest.fixture
def db_store(db: Database) -> DatabaseLeases:
    return DatabaseLeases(db, size=SIZE)


class TestRenewal:
    @bounded(30)
    async def test_renewal_keeps_the_id_past_its_ttl(
        self, db: Database, db_store: DatabaseLeases
    ) -> None:
        lease, generator = await started(db_store, 1.2)
        await asyncio.sleep(3)  # two and a half ttls
        assert mints_under(generator) == 0
        # Another process finds it held, not lapsed.
        assert (await DatabaseLeases(db, size=SIZE).acquire(5)) is not None
        async with db.begin() as conn:
            held = (await conn.execute(text("SELECT worker_id FROM worker_leases"))).scalars()
            assert sorted(held) == [0, 1]
        await lease.stop()

    @bounded(30)
    async def test_a_lost_lease_stops_minting_and_another_id_is_leased(
        self, db: Database, db_store: DatabaseLeases
    ) -> None:
        lease, generator = await started(db_store, 1.2)
        # As if it had lapsed and another process had taken it.
        async with db.begin() as conn:
            await conn.execute(text("UPDATE worker_leases SET holder = 'another process'"))
        await until(lambda: lease.worker_id not in (None, 0))
        assert lease.worker_id == 1
        assert mints_under(generator) == 1
        await lease.stop()
        async with db.begin() as conn:
            holders = dict(
                (await conn.execute(text("SELECT worker_id, holder FROM worker_leases"))).all()
            )
        assert holders[0] == "another process"  # untouched by the release

    @bounded(30)
    async def test_stop_gives_the_id_back_after_the_margin(
        self, db: Database, db_store: DatabaseLeases
    ) -> None:
        lease, _ = await started(db_store, 1.2)
        await lease.stop()
        other = DatabaseLeases(db, size=SIZE)
        first = await other.acquire(5)
        assert first == Lease(1, ANY)  # 0 is held back for the margin
        await asyncio.sleep(lease.margin + 0.1)
        again = await other.acquire(5)
        assert again == Lease(0, ANY)


@pytest.fixture
def redis_store(redis_server: RedisServer) -> RedisLeases:
    return RedisLeases.from_url(
        redis_server.url, prefix=f"minifb-test:{uuid.uuid4().hex}:", size=SIZE, timeout=0.2
    )


TTL = 1.8  # renewed every 0.3 s; minting stops 0.3 s before the lease could lapse


class TestOutage:
    @bounded(30)
    async def test_a_store_that_stops_answering_stops_minting_before_the_lease_lapses(
        self, redis_server: RedisServer, redis_store: RedisLeases
    ) -> None:
        lease, generator = await started(redis_store, TTL)
        await asyncio.sleep(TTL)  # a few renewals
        redis_server.freeze()
        last = generator.next_id()
        try:
            while True:
                try:
                    last = generator.next_id()
                except WorkerIdUnavailable:
                    break
                await asyncio.sleep(0.005)
            assert lease.problem is not None
            assert "cannot renew" in lease.problem
        finally:
            redis_server.thaw()
        # The store's expiry of the lease, by its own clock (this host's).
        client = redis.asyncio.Redis.from_url(redis_server.url)
        entry = await client.hget(redis_store.key, "0")
        await client.aclose()
        assert entry is not None
        expires_ms = int(entry.split()[0])
        last_ms = id_time(last).timestamp() * 1000
        assert last_ms < expires_ms - lease.margin * 1000 / 2
        # Renewed once it answers again, and minting goes on under the same id.
        await until(lambda: lease.worker_id == 0)
        assert mints_under(generator) == 0
        await lease.stop()

    @bounded(30)
    async def test_a_store_that_forgot_the_lease_gets_it_taken_again(
        self, redis_server: RedisServer, redis_store: RedisLeases
    ) -> None:
        lease, generator = await started(redis_store, TTL)
        redis_server.stop()
        await until(lambda: lease.worker_id is None)
        with pytest.raises(WorkerIdUnavailable):
            generator.next_id()
        redis_server.start()  # empty: a restarted Redis that kept nothing
        await until(lambda: lease.worker_id is not None)
        assert mints_under(generator) == lease.worker_id
        await lease.stop()
