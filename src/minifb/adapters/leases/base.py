"""The lease port: numbers handed out to one holder at a time, for a limited time."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Protocol


def new_holder() -> str:
    """A name unique to one holder, that tells an operator where it runs."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def to_ms(seconds: float) -> int:
    """Whole milliseconds of a duration, as the stores keep their expiries."""
    return max(0, round(seconds * 1000))


@dataclass(frozen=True, slots=True)
class Lease:
    """Number `number`, held by `holder` (a name no other holder has)."""

    number: int
    holder: str = field(default_factory=new_holder)


class LeaseStore(Protocol):
    """Hands out the numbers 0..size-1, each to at most one holder at a time.

    A lease lasts `ttl` seconds from when the store took the call, by the
    store's own clock, unless renewed; then the number is free again. A holder
    that stops renewing (a crash) so loses it by itself. A store on one host
    may instead hold a number for its holder's whole life (a lock the kernel
    drops when the process ends): its leases do not lapse (`lapses` is False).
    """

    name: str
    """What the leases are kept in, for logs ("the database", "Redis", ...)."""

    lapses: bool
    """Whether a lease not renewed within its ttl is lost (else it lasts until released)."""

    async def acquire(self, ttl: float) -> Lease | None:
        """Take a free number (the lowest) for `ttl` seconds; None when all are held."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Hold `lease` for another `ttl` seconds from now.

        False when the number is no longer this holder's: it expired and another
        holder took it, or the store forgot it. A lease that expired but that no
        one took is still the holder's (no one can have used the number since).
        """
        ...

    async def release(self, lease: Lease, *, hold: float) -> None:
        """Give `lease` back; the number is free again `hold` seconds from now.

        The hold covers clocks of several hosts that disagree: ids minted just
        before the release carry this host's time, and a host whose clock is
        behind must not mint under the same number at those times. A store on
        one host (one clock) may free it at once. Nothing happens if it is no
        longer this holder's.
        """
        ...

    async def close(self) -> None:
        """Drop the store's connections (leases still held are left to expire)."""
        ...
