"""The cache port and its implementations, picked by `MINIFB_CACHE_URL`."""

from urllib.parse import urlsplit

from minifb.adapters.cache.base import Cache
from minifb.adapters.cache.memory import MemoryCache
from minifb.adapters.cache.redis import RedisCache


def create_cache(url: str, *, prefix: str = "") -> Cache:
    """The cache named by `url`: `memory://`, `redis://` or `rediss://`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryCache(prefix)
    if scheme in ("redis", "rediss"):
        return RedisCache.from_url(url, prefix=prefix)
    # Only the scheme: the rest of the URL may carry a password.
    raise ValueError(
        f"unsupported cache URL scheme {scheme!r}: expected memory://, redis:// or rediss://"
    )


__all__ = ["Cache", "MemoryCache", "RedisCache", "create_cache"]
