"""The cache port and its implementations, picked by `MINIFB_CACHE_URL`."""

from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from minifb.adapters.cache import redis_cluster
from minifb.adapters.cache.base import Cache
from minifb.adapters.cache.guarded import GuardedCache
from minifb.adapters.cache.memory import MemoryCache
from minifb.adapters.cache.redis import RedisCache
from minifb.adapters.cache.redis_cluster import RedisClusterCache

SCHEMES = ("memory://", "redis://", "rediss://", "redis+cluster://", "rediss+cluster://")


def create_cache(url: str, *, prefix: str = "", timeout: float = 0.5) -> Cache:
    """The cache named by `url`: one of `SCHEMES`.

    A Redis cache (one server or a cluster) answers within `timeout` seconds
    or raises `Unavailable`, behind a circuit breaker (`GuardedCache`).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryCache(prefix)
    if scheme in ("redis", "rediss"):
        return GuardedCache(
            RedisCache.from_url(url, prefix=prefix),
            outages=(RedisConnectionError, RedisTimeoutError),
            timeout=timeout,
            # Rate limits and throttles keep counting in this process while Redis is down.
            counters=MemoryCache(prefix),
        )
    if scheme in redis_cluster.SCHEMES:
        return GuardedCache(
            RedisClusterCache.from_url(url, prefix=prefix),
            outages=redis_cluster.OUTAGES,
            timeout=timeout,
            counters=MemoryCache(prefix),
        )
    # Only the scheme: the rest of the URL may carry a password.
    raise ValueError(
        f"unsupported cache URL scheme {scheme!r}: expected one of {', '.join(SCHEMES)}"
    )


__all__ = [
    "Cache",
    "GuardedCache",
    "MemoryCache",
    "RedisCache",
    "RedisClusterCache",
    "create_cache",
]
