"""How a worker process's C allocator hands memory back (glibc only; decision 0133).

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB
on 64 bits), so after a while the large, short-lived buffers of a consumer (a
fan-out's pipeline, a batch of rows, a bundle of events) come from the heap
instead of mappings of their own, and a heap that fragments rarely shrinks. In
the soak (docs/performance.md) the feed's worker grew 1-2 MB every ten minutes
while the Python objects it held stayed level (tracemalloc); with the three
values below it stayed within 0.1 MB from its second minute.

`settle_malloc` fixes them for this process and the processes it forks, and
puts them in the environment for those it starts afresh (glibc reads
`MALLOC_*` at start-up). A value an operator already set in the environment
wins and is left alone. Elsewhere than glibc (musl, macOS) nothing is done.
`minifb worker` calls it; the servers, level without it, do not.
"""

from __future__ import annotations

import ctypes
import os
import platform

# mallopt(3) parameters, from glibc's <malloc.h>: the parameter, the variable
# that sets it at start-up, and our value.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
TUNING = (
    # Blocks of 128 KiB and more get a mapping of their own, returned on free
    # (fixing it also stops glibc from moving either threshold itself).
    (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", 128 * 1024),
    # Free memory past 128 KiB at the top of the heap goes back to the system.
    (_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", 128 * 1024),
    # Two heaps: a process here runs one event loop and a few helper threads.
    (_M_ARENA_MAX, "MALLOC_ARENA_MAX", 2),
)


def settle_malloc() -> dict[str, int]:
    """Apply `TUNING` where the environment does not set it already; returns what was
    applied (variable name -> value), empty off glibc."""
    if platform.libc_ver()[0] != "glibc":
        return {}
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied: dict[str, int] = {}
    for parameter, variable, value in TUNING:
        if variable in os.environ:
            continue
        if mallopt(parameter, value) == 1:  # 1 is success, 0 a value refused
            os.environ[variable] = str(value)
            applied[variable] = value
    return applied
