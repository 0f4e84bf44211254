"""Leases in one Redis hash (a server or a cluster): number -> "<expiry ms> <holder>".

One hash rather than a key per number with a TTL: a cache's Redis evicts keys
that have a TTL first when it runs out of memory (ElastiCache's default policy,
`volatile-lru`), and an evicted lease would be handed to a second holder while
the first still mints under it. A hash without a TTL is not evicted by such a
policy, and one key lives in one slot of a cluster. Expiry is decided by the
server's clock (`TIME` inside the scripts), so the clients' clocks never need
to agree. A Redis that loses its data (a restart without persistence, a
failover before a write reached the replica) can still hand a number out twice
until the first holder's next renewal finds it gone: docs/decisions/0115.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from minifb.adapters.cache import redis as single
from minifb.adapters.cache import redis_cluster
from minifb.adapters.leases.base import Lease, new_holder, to_ms

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: size, ttl in ms, holder. Drops the expired entries, takes the lowest free
# number; returns it, or -1 when every number is held.
_ACQUIRE = (
    _NOW
    + """
local held = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local expires = tonumber(string.match(entries[i + 1], '^%d+'))
  if expires and expires > now then
    held[entries[i]] = true
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
for n = 0, tonumber(ARGV[1]) - 1 do
  if not held[tostring(n)] then
    redis.call('HSET', KEYS[1], n, string.format('%.0f', now + tonumber(ARGV[2])) .. ' ' .. ARGV[3])
    return n
  end
end
return -1
"""
)

# ARGV: number, holder, ms from now. If the number is the holder's, it now expires
# that far from now (removed at once for 0) and 1 is returned; else 0.
_EXTEND = (
    _NOW
    + """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local space = string.find(entry, ' ', 1, true)
if not space or string.sub(entry, space + 1) ~= ARGV[2] then return 0 end
local ms = tonumber(ARGV[3])
if ms <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + ms) .. ' ' .. ARGV[2])
end
return 1
"""
)


class _Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


_ACQUIRE_SCRIPT = _Script(_ACQUIRE)
_EXTEND_SCRIPT = _Script(_EXTEND)


class RedisLeases:
    """A `LeaseStore` in the hash `<prefix>worker-ids` of a Redis server or cluster.

    The store owns `client`: `close()` closes it. The prefix is the cache's, so
    deployments sharing a Redis under different prefixes lease apart.
    """

    name = "Redis"
    lapses = True

    def __init__(self, client: Redis | RedisCluster, *, prefix: str, size: int) -> None:
        self._client = client
        self.key = f"{prefix}worker-ids"
        self.size = size

    @classmethod
    def from_url(cls, url: str, *, prefix: str, size: int, timeout: float) -> RedisLeases:
        """Leases on the Redis (`redis://`, `rediss://`) or cluster (`redis+cluster://`,
        `rediss+cluster://`) at `url`, each call bounded by `timeout` seconds."""
        if urlsplit(url).scheme.lower() in redis_cluster.SCHEMES:
            client: Redis | RedisCluster = redis_cluster.connect(
                url, max_connections=2, timeout=timeout
            )
        else:
            client = single.connect(url, max_connections=2, timeout=timeout)
        return cls(client, prefix=prefix, size=size)

    async def _run(self, script: _Script, *args: Any) -> Any:
        try:
            return await self._client.execute_command("EVALSHA", script.sha, 1, self.key, *args)
        except NoScriptError:
            # A restarted or flushed server: EVAL runs it and caches it again.
            return await self._client.execute_command("EVAL", script.source, 1, self.key, *args)

    async def acquire(self, ttl: float) -> Lease | None:
        holder = new_holder()
        number = int(await self._run(_ACQUIRE_SCRIPT, self.size, to_ms(ttl), holder))
        return None if number < 0 else Lease(number, holder)

    async def renew(self, lease: Lease, ttl: float) -> bool:
        return bool(await self._run(_EXTEND_SCRIPT, lease.number, lease.holder, to_ms(ttl)))

    async def release(self, lease: Lease, *, hold: float) -> None:
        await self._run(_EXTEND_SCRIPT, lease.number, lease.holder, to_ms(hold))

    async def close(self) -> None:
        await self._client.aclose()
