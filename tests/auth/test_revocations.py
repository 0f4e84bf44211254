"""Ended logins reach every process that shares the cache, without a round trip per request."""

from __future__ import annotations

import time

from minifb.adapters.cache.memory import MemoryCache, MemoryStore
from minifb.auth.revocations import Revocations


class TestRevocations:
    async def test_known_at_once_where_it_was_ended(self) -> None:
        here = Revocations(MemoryCache(), keep_seconds=900)
        await here.revoke([11, 12])
        assert here.is_revoked(11)
        assert here.is_revoked(12)
        assert not here.is_revoked(13)

    async def test_other_processes_learn_it_on_refresh(self) -> None:
        store = MemoryStore()  # one cache server shared by two processes
        here = Revocations(MemoryCache(store=store), keep_seconds=900)
        there = Revocations(MemoryCache(store=store), keep_seconds=900)
        await there.refresh()
        await here.revoke([7])
        assert not there.is_revoked(7)
        await there.refresh()
        assert there.is_revoked(7)

    async def test_a_new_process_loads_what_is_still_in_force(self) -> None:
        store = MemoryStore()
        await Revocations(MemoryCache(store=store), keep_seconds=900).revoke([5])
        late = Revocations(MemoryCache(store=store), keep_seconds=900)
        await late.start()
        try:
            assert late.is_revoked(5)
        finally:
            await late.stop()

    async def test_forgotten_once_every_token_of_the_login_has_expired(self) -> None:
        cache = MemoryCache()
        old = time.time() - 1000
        await cache.zadd("auth:revoked", {"3": old})
        revocations = Revocations(cache, keep_seconds=900)
        await revocations.refresh()
        assert not revocations.is_revoked(3)
        assert await cache.zcard("auth:revoked") == 0
