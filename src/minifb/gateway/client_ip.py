"""Who is calling: the client address, trusting `X-Forwarded-For` only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

STATE_KEY = "client_ip"
UNKNOWN = "unknown"


def parse_trusted(proxies: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`MINIFB_TRUSTED_PROXIES` entries (IPs or CIDRs) as networks, parsed once at start-up.

    A bad entry raises ValueError: a typo here would silently trust nobody (or
    the wrong hosts), which is better found at boot than in an incident.
    """
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


# Parsing an address costs more than the rest of the gateway's per-request
# work; the same few peers (or proxies) come back all the time. Bounded, since
# forwarded entries are written by clients.
@lru_cache(maxsize=4096)
def _parse(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare and key
    # them as the IPv4 address they are.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4096)
def _canonical(value: str) -> str:
    address = _parse(value)
    return value if address is None else str(address)


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    # `in` across versions is simply False, so mixed v4/v6 lists are fine.
    return any(address in network for network in trusted)


def _forwarded_for(scope: Scope) -> list[str]:
    # Several X-Forwarded-For lines are one list in order (RFC 9110 §5.3).
    entries: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            entries.extend(value.decode("latin-1").split(","))
    return entries


def client_ip(scope: Scope, trusted: Sequence[IPNetwork]) -> str:
    """The caller's address, canonical (so one host has one spelling, one rate-limit key).

    It is the socket peer, unless that peer is one of our trusted proxies: then
    `X-Forwarded-For` is walked from the right, skipping trusted hops, and the
    first untrusted address is the client. Entries left of it were written by
    the client and are ignored, so sending the header dodges nothing.
    """
    peer = scope.get("client")
    if not peer:
        return UNKNOWN
    if not trusted:
        # Not an IP (a test client's "testclient", a unix socket path) is kept as is.
        return _canonical(str(peer[0]))
    peer_address = _parse(str(peer[0]))
    if peer_address is None:
        return str(peer[0])
    if not _is_trusted(peer_address, trusted):
        return _canonical(str(peer[0]))
    nearest = peer_address
    for entry in reversed(_forwarded_for(scope)):
        address = _parse(entry)
        if address is None:
            # Garbage can only come from the untrusted side; taking it would let a
            # client pick any rate-limit key it likes, so stop at the last known hop.
            return str(nearest)
        if not _is_trusted(address, trusted):
            return str(address)
        nearest = address
    # Every hop is one of ours (an internal caller): the left-most one is the origin.
    return str(nearest)


def remember_client_ip(scope: Scope, trusted: Sequence[IPNetwork]) -> str:
    """Resolve the client address once per request and keep it in the request state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known = state.get(STATE_KEY)
    if isinstance(known, str):
        return known
    address = client_ip(scope, trusted)
    state[STATE_KEY] = address
    return address


def get_client_ip(request: HTTPConnection) -> str:
    """The client address the gateway resolved for this request (for endpoints, throttles).

    Without the gateway installed there is no proxy configuration either, so
    the socket peer is the right answer.
    """
    return remember_client_ip(request.scope, ())
