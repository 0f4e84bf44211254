"""Throttles on credential endpoints (Mastodon's numbers), kept in the cache port."""

from __future__ import annotations

import math
from dataclasses import dataclass

from minifb.adapters.cache import Cache
from minifb.kit.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window: int  # seconds


LOGIN_PER_IP = Rule("login:ip", 25, 5 * 60)
LOGIN_PER_ACCOUNT = Rule("login:account", 25, 60 * 60)
SIGNUP_PER_IP = Rule("signup:ip", 5, 30 * 60)


async def hit(cache: Cache, rule: Rule, subject: str, *, enabled: bool = True) -> None:
    """Count an attempt; past the limit, refuse with 429 and when to come back.

    The window opens at the first attempt and lasts `rule.window` seconds,
    shared by every process that shares the cache.
    """
    if not enabled:
        return
    count, seconds_left = await cache.incr(f"throttle:{rule.name}:{subject}", ttl=rule.window)
    if count > rule.limit:
        raise TooManyRequests(
            "Too many attempts; try again later.", retry_after=math.ceil(seconds_left)
        )
