"""The caller's address, as the gateway resolved it for this request.

The gateway (`gateway.client_ip`) decides whom to trust among proxies and
puts the answer on the request's scope under `STATE_KEY`; services read it
through `ClientIp`, and never need to know the gateway.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

STATE_KEY = "client_ip"
UNKNOWN = "unknown"


# Parsing an address costs more than the rest of the gateway's per-request
# work; the same few peers (or proxies) come back all the time. Bounded, since
# forwarded entries are written by clients.
@lru_cache(maxsize=4096)
def parse_address(value: str) -> IPAddress | None:
    """An address as written, or None when it is none; an IPv4-mapped IPv6 address is
    the IPv4 address it carries."""
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
def canonical_address(value: str) -> str:
    """One spelling per host (so one rate-limit key); anything not an IP as given."""
    address = parse_address(value)
    return value if address is None else str(address)


def get_client_ip(request: HTTPConnection) -> str:
    """The client address the gateway resolved for this request (for endpoints, throttles).

    Without the gateway installed there is no proxy configuration either, so
    the socket peer is the right answer.
    """
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known = state.get(STATE_KEY)
    if isinstance(known, str):
        return known
    peer = request.scope.get("client")
    address = canonical_address(str(peer[0])) if peer else UNKNOWN
    state[STATE_KEY] = address
    return address


async def _client_ip(request: Request) -> str:
    return get_client_ip(request)


ClientIp = Annotated[str, Depends(_client_ip)]
"""The caller's address (behind our own proxies, the client's, not the proxy's)."""
