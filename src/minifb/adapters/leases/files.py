"""Leases as lock files on one host: `<directory>/<number>.lock`, each held by an `flock`.

The kernel holds the lock for as long as the file stays open and drops it when
the process ends, however it ends: a lease here lasts the holder's life, needs
no renewal and cannot lapse while the holder runs. All holders must share the
directory on one host (`flock` is not to be trusted over a network file system,
and neither is SQLite, whose tier this is for).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from minifb.adapters.leases.base import Lease

_LOCKED = (BlockingIOError, PermissionError)


class FileLeases:
    """A `LeaseStore` of lock files in `directory` (made on first use)."""

    name = "lock files"
    lapses = False

    def __init__(self, directory: Path, *, size: int) -> None:
        self.directory = directory
        self.size = size
        self._open: dict[Lease, int] = {}

    async def acquire(self, ttl: float) -> Lease | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for number in range(self.size):
            fd = os.open(self.directory / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                # Locks belong to an open file, not to a process: a second store in
                # the same process is refused like another process would be.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except _LOCKED:
                os.close(fd)
                continue
            lease = Lease(number)
            # Who holds it, for an operator reading the file; the lock is what counts.
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{lease.holder}\n".encode(), 0)
            self._open[lease] = fd
            return lease
        return None

    async def renew(self, lease: Lease, ttl: float) -> bool:
        return lease in self._open

    async def release(self, lease: Lease, *, hold: float) -> None:
        # One host, one clock: the number may be used again at once.
        fd = self._open.pop(lease, None)
        if fd is not None:
            os.close(fd)  # closing drops the lock

    async def close(self) -> None:
        for lease in list(self._open):
            await self.release(lease, hold=0)
