"""Small asyncio helpers shared by the background loops (of the adapters and the kernel alike)."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("minifb.tasks")


async def cancel_and_wait(task: asyncio.Task[None], *, grace: float = 5.0) -> None:
    """Cancel a background task and wait for it, but never hang a shutdown on it.

    A library that swallows a cancellation (seen under a database driver's
    cleanup) would leave a plain `await task` waiting forever.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("task %s did not stop within %.1f s; leaving it", task.get_name(), grace)
    elif not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


async def finish_or_cancel(tasks: set[asyncio.Task[None]], *, grace: float) -> None:
    """Let `tasks` finish for up to `grace` seconds, then cancel those still running."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        await cancel_and_wait(task, grace=1.0)
