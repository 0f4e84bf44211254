"""`minifb worker NAME...`: event consumers and housekeeping in a process of their own.

On a broker (`MINIFB_EVENTS_URL=amqp://`) each consumer takes from its own
queue, shared by every process that runs it, so workers can be added or
restarted without a server noticing. The process builds the same container a
server does, without the routes, runs what it was named, and on SIGTERM or
SIGINT drains: the bus stops taking messages, finishes the one in hand and
gives the rest back to the broker, all within `STOP_WITHIN` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.telemetry.logging import configure_logging
from minifb.bootstrap import Container, build_container, start_when_migrated
from minifb.config import Settings
from minifb.workers.registry import run_in_process

log = logging.getLogger("minifb.worker")

STOP_WITHIN = 10.0  # seconds from SIGTERM to exit, at most


async def run(settings: Settings, names: list[str]) -> None:
    """Run the named consumers (and housekeeping) until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.resolved_log_format)
    stop_signal = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_signal.set)
    container = await build_container(settings)
    starting: asyncio.Task[None] | None = None
    try:
        starting = await start(container, names)
        await stop_signal.wait()
        log.info("worker stopping: finishing the events in hand")
    finally:
        await stop(container, starting)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("worker stopped")


async def start(container: Container, names: list[str]) -> asyncio.Task[None] | None:
    """Subscribe the named consumers, schedule the housekeeping if named, and start
    (returns the task that starts once the migrations have run, if they have not)."""
    chosen = run_in_process(container, names)
    starting = await start_when_migrated(container)
    log.info("worker running %s", ", ".join(chosen))
    return starting


async def stop(container: Container, starting: asyncio.Task[None] | None = None) -> None:
    """Stop what `start` started, within `STOP_WITHIN` seconds."""
    if starting is not None:
        await cancel_and_wait(starting)
    async with asyncio.timeout(STOP_WITHIN):
        # The consumers first: the event in hand is finished (its handler may still
        # need the worker id, the database and the relay), the rest go back to the
        # broker. Then the rest of the container, the relay publishing what the
        # last handlers wrote.
        await container.bus.close()
        await container.close()
