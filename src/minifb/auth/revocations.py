"""Ended logins, known to every process without a cache round trip per request.

Access tokens are self-contained, so ending a login (logout, password change,
a reused refresh token) must also stop its access tokens until they expire.
The ended session ids sit in one sorted set in the cache (score: when they
were ended). Each process keeps them in memory and reads only the new ones
once a second, so checking a request costs a set lookup: an ended login stops
at once in the process that ended it, and within a second everywhere else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from minifb.adapters.cache import Cache
from minifb.kit.aio import cancel_and_wait

log = logging.getLogger("minifb.auth")

KEY = "auth:revoked"


class Revocations:
    def __init__(self, cache: Cache, *, keep_seconds: float, refresh_interval: float = 1.0) -> None:
        # Kept as long as an access token of the ended login can still be valid.
        self._cache = cache
        self._keep = keep_seconds
        self._interval = refresh_interval
        self._ended: dict[int, float] = {}  # session id -> when it was ended
        self._seen_up_to = 0.0
        self._last_prune = 0.0
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, session_id: int) -> bool:
        return session_id in self._ended

    async def revoke(self, session_ids: Iterable[int]) -> None:
        """End these logins here at once, and for every process through the cache."""
        now = time.time()
        members = {str(sid): now for sid in session_ids}
        if not members:
            return
        self._ended.update({int(m): now for m in members})
        await self._cache.zadd(KEY, members)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="auth-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def refresh(self) -> None:
        """Learn the logins ended since the last refresh, and forget expired ones."""
        now = time.time()
        fresh = await self._cache.zrange_by_score(KEY, min=max(self._seen_up_to, now - self._keep))
        for member, ended_at in fresh:
            self._ended[int(member)] = ended_at
            self._seen_up_to = max(self._seen_up_to, ended_at)
        horizon = now - self._keep
        self._ended = {sid: at for sid, at in self._ended.items() if at >= horizon}
        if now - self._last_prune > 60:
            self._last_prune = now
            stale = await self._cache.zrange_by_score(KEY, max=horizon)
            if stale:
                await self._cache.zrem(KEY, *(m for m, _ in stale))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:
                # Keep the last known list; a brief cache outage must not log everyone out.
                log.warning("could not refresh the ended logins", exc_info=True)
