"""The composition root's choices: where a process leases its worker id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minifb.adapters.leases import FileLeases, LeaseStore, RedisLeases
from minifb.bootstrap import lease_store, worker_id_lease
from minifb.config import Settings
from minifb.kit.db import Database
from minifb.kit.db_leases import DatabaseLeases

PG = "postgresql+asyncpg://minifb@db.internal:5432/minifb"


def settings_for(tmp_path: Path, **fields: Any) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path / "var", **fields)  # type: ignore[call-arg]


async def store_for(settings: Settings) -> LeaseStore:
    db = Database(settings.database_url)  # no connection is opened here
    try:
        return lease_store(settings, db)
    finally:
        await db.dispose()


class TestLeaseStore:
    async def test_sqlite_leases_from_lock_files_beside_the_database(self, tmp_path: Path) -> None:
        database = tmp_path / "data" / "minifb.db"
        settings = settings_for(tmp_path, database_url=f"sqlite+aiosqlite:///{database}")
        store = await store_for(settings)
        assert isinstance(store, FileLeases)
        # Not under the var dir: every process on this file finds the same locks.
        assert store.directory == Path(f"{database}.worker-ids")
        assert store.size == 1024

    async def test_an_in_memory_sqlite_database_leases_under_the_var_dir(
        self, tmp_path: Path
    ) -> None:
        settings = settings_for(tmp_path, database_url="sqlite+aiosqlite:///:memory:")
        store = await store_for(settings)
        assert isinstance(store, FileLeases)
        assert store.directory == tmp_path / "var" / "worker-ids"

    async def test_postgresql_leases_from_the_database_whatever_the_cache(
        self, tmp_path: Path
    ) -> None:
        for cache in ("memory://", "redis://cache.internal:6379/0"):
            settings = settings_for(tmp_path, database_url=PG, cache_url=cache)
            assert isinstance(await store_for(settings), DatabaseLeases)

    @pytest.mark.parametrize(
        "cache", ["redis://cache.internal:6379/0", "rediss+cluster://cfg.cache.internal:6379"]
    )
    async def test_redis_on_request_leases_in_the_caches_redis(
        self, tmp_path: Path, cache: str
    ) -> None:
        settings = settings_for(tmp_path, database_url=PG, cache_url=cache, worker_id_lease="redis")
        store = await store_for(settings)
        assert isinstance(store, RedisLeases)
        assert store.key == "minifb:worker-ids"  # under the cache's prefix
        await store.close()

    def test_redis_without_a_redis_cache_is_refused_saying_what_to_set(
        self, tmp_path: Path
    ) -> None:
        with pytest.raises(ValueError, match="MINIFB_CACHE_URL to a redis://"):
            settings_for(tmp_path, worker_id_lease="redis")

    def test_redis_from_the_seeds_elasticache_endpoint_will_do(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ELASTICACHE_ENDPOINT", "cfg.cache.internal")
        settings = settings_for(tmp_path, worker_id_lease="redis")
        assert settings.cache_url == "rediss://cfg.cache.internal:6379"

    async def test_lock_files_on_request_live_under_the_var_dir(self, tmp_path: Path) -> None:
        settings = settings_for(tmp_path, database_url=PG, worker_id_lease="file")
        store = await store_for(settings)
        assert isinstance(store, FileLeases)
        assert store.directory == tmp_path / "var" / "worker-ids"

    async def test_the_lease_lasts_the_configured_ttl(self, tmp_path: Path) -> None:
        settings = settings_for(tmp_path, worker_id_lease_ttl=30)
        db = Database(settings.database_url)
        lease = worker_id_lease(settings, db)
        await db.dispose()
        assert (lease.ttl, lease.renew_every, lease.margin) == (30, 5, 5)

    def test_a_ttl_too_short_to_renew_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="worker_id_lease_ttl"):
            settings_for(tmp_path, worker_id_lease_ttl=0.5)
