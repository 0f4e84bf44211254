"""The lease contract: lock files, Redis (a server and a cluster) and the database alike.

Each store a test opens stands for one process; they share the backend (a
directory, a Redis of the test's own or the run's cluster, the test's
database: SQLite, or PostgreSQL with `MINIFB_TEST_DATABASE_URL`). Stores
whose leases lapse are tested for lapsing; lock files, whose leases last their
holder's life, for being freed when the holder dies.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from minifb.adapters.leases import FileLeases, Lease, LeaseStore, RedisLeases
from minifb.kit.db import Database
from minifb.kit.db_leases import DatabaseLeases
from tests.fixtures.deadline import bounded
from tests.fixtures.redis_cluster import RedisCluster
from tests.fixtures.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, imported for the tests below

SIZE = 4
TTL = 5.0
SHORT = 0.3

Stores = Callable[..., LeaseStore]


# The stores whose leases lapse unrenewed (a lock file's lasts its holder's life).
LAPSING = [
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("cluster", id="redis-cluster", marks=pytest.mark.redis),
    pytest.param("database", id="database"),
]


@pytest.fixture(params=[pytest.param("file", id="file"), *LAPSING])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Stores]:
    """Opens stores on one backend, each as another process would (own connections)."""
    opened: list[LeaseStore] = []
    databases: list[Database] = []
    prefix = f"minifb-test:{uuid.uuid4().hex}:"
    url = ""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    elif request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url = cluster.url

    def open_store(size: int = SIZE) -> LeaseStore:
        store: LeaseStore
        if request.param == "file":
            store = FileLeases(tmp_path / "leases", size=size)
        elif request.param == "database":
            db = Database(database_url)
            databases.append(db)
            store = DatabaseLeases(db, size=size)
        else:
            store = RedisLeases.from_url(url, prefix=prefix, size=size, timeout=5)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    for db in databases:
        await db.dispose()
    if request.param == "cluster":
        await request.getfixturevalue("redis_cluster").delete_prefixed(prefix)


async def taken(store: LeaseStore, ttl: float = TTL) -> Lease:
    lease = await store.acquire(ttl)
    assert lease is not None
    return lease


class TestAcquire:
    @bounded(30)
    async def test_holders_acquiring_at_once_get_distinct_numbers_lowest_first(
        self, stores: Stores
    ) -> None:
        leases = await asyncio.gather(*(stores().acquire(TTL) for _ in range(SIZE)))
        assert sorted(lease.number for lease in leases if lease is not None) == list(range(SIZE))
        assert len({lease.holder for lease in leases if lease is not None}) == SIZE

    @bounded(30)
    async def test_with_every_number_held_there_is_none(self, stores: Stores) -> None:
        for _ in range(SIZE):
            await taken(stores())
        assert await stores().acquire(TTL) is None

    @bounded(30)
    async def test_one_store_takes_a_number_per_call(self, stores: Stores) -> None:
        store = stores()
        assert [(await taken(store)).number for _ in range(3)] == [0, 1, 2]


class TestRenew:
    @bounded(30)
    async def test_a_renewed_lease_stays_its_holders(self, stores: Stores) -> None:
        store = stores()
        lease = await taken(store)
        assert await store.renew(lease, TTL) is True
        assert (await taken(stores())).number == lease.number + 1

    @bounded(30)
    async def test_another_holders_lease_is_not_renewed(self, stores: Stores) -> None:
        lease = await taken(stores())
        other = stores()
        assert await other.renew(Lease(lease.number), TTL) is False
        assert await other.renew(Lease(SIZE - 1), TTL) is False  # held by no one


class TestRelease:
    @bounded(30)
    async def test_a_number_released_without_a_hold_is_free_at_once(self, stores: Stores) -> None:
        store = stores()
        lease = await taken(store)
        await store.release(lease, hold=0)
        assert (await taken(stores())).number == lease.number

    @bounded(30)
    async def test_releasing_another_holders_lease_frees_nothing(self, stores: Stores) -> None:
        lease = await taken(stores())
        await stores().release(Lease(lease.number), hold=0)
        assert (await taken(stores())).number != lease.number


def lapsing(store: LeaseStore) -> None:
    assert store.lapses, f"leases in {store.name} last their holder's life"


@pytest.mark.parametrize("stores", LAPSING, indirect=True)
class TestLapse:
    @bounded(30)
    async def test_an_unrenewed_lease_lapses_and_another_holder_takes_it(
        self, stores: Stores
    ) -> None:
        first, second = stores(), stores()
        lapsing(first)
        # The second store connected before the short lease is taken: a cold store's
        # first call (a cluster's discovery) can outlast SHORT on a loaded machine.
        await taken(second)
        lease = await taken(first, SHORT)
        assert (await taken(second)).number != lease.number  # still held
        await asyncio.sleep(SHORT * 2)
        again = await taken(stores())
        assert again.number == lease.number
        assert await first.renew(lease, TTL) is False  # it is the new holder's now

    @bounded(30)
    async def test_a_lapsed_lease_no_one_took_is_still_its_holders(self, stores: Stores) -> None:
        store = stores()
        lapsing(store)
        lease = await taken(store, SHORT)
        await asyncio.sleep(SHORT * 2)
        assert await store.renew(lease, TTL) is True
        assert (await taken(stores())).number != lease.number

    @bounded(30)
    async def test_a_released_number_is_held_back_for_the_hold(self, stores: Stores) -> None:
        store = stores()
        lapsing(store)
        lease = await taken(store)
        other = stores()
        await taken(other)  # connected before the hold starts, as in the test above
        await store.release(lease, hold=SHORT * 2)
        first = await taken(other)
        assert first.number != lease.number
        await asyncio.sleep(SHORT * 3)
        assert (await taken(other)).number == lease.number


HOLD_A_LOCK = """
import asyncio, sys
from pathlib import Path
from minifb.adapters.leases import FileLeases

store = FileLeases(Path(sys.argv[1]), size=4)
lease = asyncio.run(store.acquire(5.0))
print(lease.number, flush=True)
sys.stdin.read()
"""


class TestLockFiles:
    @bounded(30)
    async def test_a_lease_lasts_its_holders_life_and_ends_with_it(self, tmp_path: Path) -> None:
        directory = tmp_path / "leases"
        store = FileLeases(directory, size=4)
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_A_LOCK,
            str(directory),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert holder.stdout is not None
            assert (await holder.stdout.readline()).strip() == b"0"
            assert (await taken(store)).number == 1  # the other process holds 0
        finally:
            holder.kill()  # no release: the kernel drops the lock with the process
            await holder.communicate()
        assert (await taken(store)).number == 0
        await store.close()

    @bounded(30)
    async def test_a_lease_never_lapses_while_held(self, tmp_path: Path) -> None:
        store = FileLeases(tmp_path, size=2)
        lease = await taken(store, SHORT)
        started = time.monotonic()
        await asyncio.sleep(SHORT * 2)
        assert time.monotonic() - started > SHORT
        assert await store.renew(lease, SHORT) is True
        assert (await taken(FileLeases(tmp_path, size=2))).number == 1
