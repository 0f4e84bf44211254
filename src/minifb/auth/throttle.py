"""Throttles on credential endpoints, kept in the cache port (docs/decisions/0104).

A password check is limited where it comes from, never so that someone
else's tries can shut the owner out of their own account:

- per address: every login attempt (Mastodon's 25 in 5 minutes);
- per (account, address): wrong tries at one account from one address; a
  right password starts that address afresh;
- per account, all addresses together: a budget against a guess spread over
  many addresses. Once it is spent, only addresses that have logged in to
  the account before get through, so the owner still can from theirs.

A login counts under the login name as given (a username and an e-mail of
one account are counted apart, so a refusal never ties the two together); a
password change under the account itself.

An IPv6 address is counted by its /64, which one host or household holds.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.auth import repository as repo
from minifb.kit.errors import TooManyRequests

log = logging.getLogger("minifb.auth.throttle")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window: int  # seconds


LOGIN_PER_ADDRESS = Rule("login:ip", 25, 5 * 60)
# One address's share stays under the account's budget even across two of its
# windows (2 x 10 < 25): no single address can spend the budget on its own.
LOGIN_PER_ACCOUNT_AND_ADDRESS = Rule("login:account+ip", 10, 60 * 60)
LOGIN_PER_ACCOUNT = Rule("login:account", 25, 60 * 60)
SIGNUP_PER_ADDRESS = Rule("signup:ip", 5, 30 * 60)

IPV6_NETWORK_BITS = 64


def network_of(ip: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # not an IP (a unix socket, a test client): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_NETWORK_BITS), strict=False))
    return str(address)


async def _count(cache: Cache, rule: Rule, subject: str) -> tuple[int, float]:
    return await cache.incr(f"throttle:{rule.name}:{subject}", ttl=rule.window)


def _refuse(seconds_left: float, detail: str = "Too many attempts; try again later.") -> None:
    raise TooManyRequests(detail, retry_after=math.ceil(seconds_left))


async def hit(cache: Cache, rule: Rule, subject: str, *, enabled: bool = True) -> None:
    """Count an attempt; past the limit, refuse with 429 and when to come back.

    The window opens at the first attempt and lasts `rule.window` seconds,
    shared by every process that shares the cache.
    """
    if not enabled:
        return
    count, seconds_left = await _count(cache, rule, subject)
    if count > rule.limit:
        _refuse(seconds_left)


async def hit_address(cache: Cache, rule: Rule, ip: str, *, enabled: bool = True) -> None:
    """`hit` for the network an address belongs to."""
    await hit(cache, rule, network_of(ip), enabled=enabled)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """A password check the account's throttles let through; say how it went."""

    cache: Cache | None
    account: str
    network: str

    async def succeeded(self) -> None:
        """The password was right: this address starts afresh on this account, and the
        attempt is given back to the account's budget, so the owner's own logins never
        spend it. A failure here must not fail the login, so it is only logged."""
        if self.cache is None:
            return
        try:
            await self.cache.delete(
                f"throttle:{LOGIN_PER_ACCOUNT_AND_ADDRESS.name}:{self.account}@{self.network}"
            )
            await self.cache.incr(
                f"throttle:{LOGIN_PER_ACCOUNT.name}:{self.account}",
                -1,
                ttl=LOGIN_PER_ACCOUNT.window,
            )
        except Exception:
            log.warning("could not reset the password throttles of a login", exc_info=True)


async def check_password(
    cache: Cache,
    *,
    account: str,
    ip: str,
    logged_in_before: Callable[[str], Awaitable[bool]],
    enabled: bool = True,
) -> PasswordCheck:
    """Count a password check for `account` (what it is counted under) from `ip`, or
    refuse it with 429.

    `logged_in_before(network)` says whether the account has logged in from
    that network before; it is asked only once the account's budget is spent.
    """
    network = network_of(ip)
    if not enabled:
        return PasswordCheck(None, account, network)
    count, seconds_left = await _count(cache, LOGIN_PER_ACCOUNT_AND_ADDRESS, f"{account}@{network}")
    if count > LOGIN_PER_ACCOUNT_AND_ADDRESS.limit:
        _refuse(seconds_left)
    count, seconds_left = await _count(cache, LOGIN_PER_ACCOUNT, account)
    if count > LOGIN_PER_ACCOUNT.limit and not await logged_in_before(network):
        _refuse(
            seconds_left,
            "Too many attempts at this account from new places; try again later, "
            "or from where you have logged in before.",
        )
    return PasswordCheck(cache, account, network)


def logged_in_before(
    session: AsyncSession, user_id: int | None
) -> Callable[[str], Awaitable[bool]]:
    """For `check_password`: whether the account has logged in from a network before
    (every login records its address)."""

    async def known(network: str) -> bool:
        # An unknown account runs the same query (id 0 is nobody's), so the
        # answer takes as long as for an account that exists.
        addresses = await repo.login_addresses(session, user_id or 0)
        return any(network_of(ip) == network for ip in addresses)

    return known
