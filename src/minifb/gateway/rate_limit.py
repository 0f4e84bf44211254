"""Per-IP rate limit: a fixed window counted in the shared cache (the seed's WAF rule)."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minifb.adapters.cache.base import Cache
from minifb.gateway.client_ip import IPNetwork, remember_client_ip
from minifb.kit.errors import TooManyRequests, problem

log = logging.getLogger("minifb.gateway")

# Probes and scrapes must never be throttled: a limited /ready would take a
# healthy pod out of service.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
# One warning per this many seconds while the cache is down, not one per request.
WARN_EVERY = 30.0


def wall_clock() -> float:
    """Seconds since the epoch: every process must agree on the window (tests freeze it)."""
    return time.time()


@lru_cache(maxsize=4096)  # parsing per request would cost more than the rest of the check
def limit_key(ip: str) -> str:
    """The bucket of an address: itself, or its /64 for IPv6.

    One IPv6 subscriber usually holds a whole /64; limiting single addresses
    would give each of them 2^64 fresh budgets.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class CacheHolder(Protocol):
    """What the rate limit reads of the container (`bootstrap.Container` provides it)."""

    @property
    def cache(self) -> Cache: ...


def _cache_of(scope: Scope) -> Cache | None:
    # The container is built by the lifespan, after the middleware is: it is read
    # from the app the request came to (None until the app has started).
    container: CacheHolder | None = getattr(scope["app"].state, "container", None)
    return None if container is None else container.cache


class RateLimitMiddleware:
    """At most `limit` requests per client address per fixed `window` seconds.

    The counter lives in the cache under `rl:ip:{ip}:{window index}`, so every
    process behind the load balancer shares it. Every limited response carries
    `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds until the window
    ends); past the limit the answer is 429 with `Retry-After`. When the cache
    cannot be reached the request goes through: losing the limit for a while
    beats losing the whole API.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        window: int,
        trusted: Sequence[IPNetwork] = (),
        exempt: Iterable[str] = EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self.trusted = tuple(trusted)
        self.exempt = frozenset(exempt)
        self._last_warning = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        counted = await self._count(scope)
        if counted is None:
            await self.app(scope, receive, send)
            return
        count, reset = counted
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - count, 0)),
            "X-RateLimit-Reset": str(reset),
        }
        if count > self.limit:
            headers["Retry-After"] = str(reset)
            response = problem(
                429,
                "Too many requests from your address; try again later.",
                code=TooManyRequests.code,
                headers=headers,
            )
            await response(scope, receive, send)
            return
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *raw]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _count(self, scope: Scope) -> tuple[int, int] | None:
        """(requests so far in this window, seconds until it resets), or None to let it pass."""
        cache = _cache_of(scope)
        if cache is None:
            self._warn("no cache yet (the app has not started); requests are not rate limited")
            return None
        now = wall_clock()
        index = int(now // self.window)
        key = f"rl:ip:{limit_key(remember_client_ip(scope, self.trusted))}:{index}"
        try:
            count, _ = await cache.incr(key, ttl=self.window)
        except Exception:
            self._warn("the cache is unreachable; requests are not rate limited", exc_info=True)
            return None
        # The window's end, not the key's ttl: the key may outlive its window a
        # little, but a new window means a new key.
        reset = max(math.ceil((index + 1) * self.window - now), 1)
        return count, reset

    def _warn(self, message: str, *, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning(message, exc_info=exc_info)
