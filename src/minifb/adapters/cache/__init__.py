"""The cache port and its implementations, picked by `MINIFB_CACHE_URL`."""

from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from minifb.adapters.cache.base import Cache
from minifb.adapters.cache.guarded import GuardedCache
from minifb.adapters.cache.memory import MemoryCache
from minifb.adapters.cache.redis import RedisCache


def create_cache(url: str, *, prefix: str = "", timeout: float = 0.5) -> Cache:
    """The cache named by `url`: `memory://`, `redis://` or `rediss://`.

    A Redis cache answers within `timeout` seconds or raises `Unavailable`,
    behind a circuit breaker (`GuardedCache`).
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
    # Only the scheme: the rest of the URL may carry a password.
    raise ValueError(
        f"unsupported cache URL scheme {scheme!r}: expected memory://, redis:// or rediss://"
    )


__all__ = ["Cache", "GuardedCache", "MemoryCache", "RedisCache", "create_cache"]
