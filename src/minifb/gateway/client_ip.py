"""Who is calling, and how: the client address and scheme, trusting `X-Forwarded-For`
and `X-Forwarded-Proto` only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.types import Scope

from minifb.kit.client_ip import (
    STATE_KEY,
    UNKNOWN,
    IPAddress,
    canonical_address,
    get_client_ip,
    parse_address,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(proxies: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`MINIFB_TRUSTED_PROXIES` entries (IPs or CIDRs) as networks, parsed once at start-up.

    A bad entry raises ValueError: a typo here would silently trust nobody (or
    the wrong hosts), which is better found at boot than in an incident.
    """
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


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
        return canonical_address(str(peer[0]))
    peer_address = parse_address(str(peer[0]))
    if peer_address is None:
        return str(peer[0])
    if not _is_trusted(peer_address, trusted):
        return canonical_address(str(peer[0]))
    nearest = peer_address
    for entry in reversed(_forwarded_for(scope)):
        address = parse_address(entry)
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
    """Resolve the client address once per request and keep it in the request state,
    where kit's `ClientIp` reads it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known = state.get(STATE_KEY)
    if isinstance(known, str):
        return known
    address = client_ip(scope, trusted)
    state[STATE_KEY] = address
    return address


# What a client's scheme becomes on each kind of connection, by what the proxy says.
_SCHEMES = {
    "http": {b"http": "http", b"https": "https"},
    "websocket": {b"http": "ws", b"https": "wss"},
}


def honour_forwarded_proto(scope: Scope, trusted: Sequence[IPNetwork]) -> None:
    """Behind a trusted proxy that terminates TLS, take the scheme the client used from
    its `X-Forwarded-Proto`, so that the request counts as https (HSTS is sent, URLs
    the app builds from the request start with https); from anyone else, ignore it.

    The right-most value is the one our proxy wrote, whether it replaced the
    header or appended to what the client sent.
    """
    forwarded = None
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            forwarded = value
    if forwarded is None:
        return
    peer = scope.get("client")
    address = parse_address(str(peer[0])) if peer else None
    if address is None or not _is_trusted(address, trusted):
        return
    scheme = _SCHEMES.get(scope["type"], {}).get(forwarded.rpartition(b",")[2].strip().lower())
    if scheme is not None:
        scope["scheme"] = scheme


__all__ = [
    "IPNetwork",
    "client_ip",
    "get_client_ip",
    "honour_forwarded_proto",
    "parse_trusted",
    "remember_client_ip",
]
