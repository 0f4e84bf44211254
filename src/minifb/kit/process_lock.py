"""One server process per in-process state: an exclusive lock on a file, held while serving.

The embedded tier keeps its cache (feeds, rate limits, throttles) in the
memory of one process. A second process over the same database would serve
from a cache nobody invalidates for it, so it is refused at start-up with a
message saying why, instead of quietly serving stale data (DESIGN §8).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyServing(RuntimeError):
    """Another process holds the lock."""


class ProcessLock:
    """An exclusive, non-blocking `flock` on `path`; the kernel drops it if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, why: str) -> None:
        """Take the lock or raise `AlreadyServing` naming the holder and `why` it matters."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyServing(
                f"process {holder} is already serving ({self.path}): {why}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
