"""The in-process bus: a handler that finds a service down waits it out; a broken one is
dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from minifb.adapters.events import Event
from minifb.adapters.events.memory import MemoryEventBus
from minifb.adapters.resilience import Unavailable


def _event() -> Event:
    return Event(id=1, type="post.created", occurred_at=datetime.now(UTC), actor_id=None)


async def _deliver(bus: MemoryEventBus, fail: BaseException, times: int) -> int:
    calls = 0

    async def handler(_: Event) -> None:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise fail

    bus.subscribe("feed", ["*"], handler)
    await bus.start()
    try:
        await bus.publish(_event())
        async with asyncio.timeout(5):
            await bus.drain()
    finally:
        await bus.close()
    return calls


async def test_a_handler_that_finds_a_service_down_is_retried_until_it_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="minifb.events")
    bus = MemoryEventBus(max_attempts=2, retry_delay=0.001, backoff=(0.001, 0.01))
    assert await _deliver(bus, Unavailable("database"), times=6) == 7
    assert bus.dead_letters == []
    records = [r for r in caplog.records if r.name == "minifb.events"]
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2, lines  # the outage starts, and ends; not a line per try
    assert lines[0].startswith("consumer feed failed (database is unavailable)")
    assert lines[1].startswith("consumer feed works again after 6 failed tries")
    assert not any(r.exc_info for r in records)


async def test_a_handler_that_keeps_failing_otherwise_is_dead_lettered() -> None:
    bus = MemoryEventBus(max_attempts=2, retry_delay=0.001)
    assert await _deliver(bus, RuntimeError("a bug"), times=10) == 2
    assert [name for name, _ in bus.dead_letters] == ["feed"]
