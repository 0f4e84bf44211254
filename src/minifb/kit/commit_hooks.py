"""What runs around a session's commit: hooks before and after it, and the outbox rows
it wrote (which `Database.commit` hands to the relay once committed)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.resilience import Unavailable

BEFORE_COMMIT_KEY = "minifb.before_commit"
AFTER_COMMIT_KEY = "minifb.after_commit"
EVENTS_KEY = "minifb.events_written"
log = logging.getLogger("minifb.db")


def wrote_events(session: AsyncSession, *rows: Mapping[str, Any]) -> None:
    """Note the outbox `rows` the session's transaction wrote: `Database.commit` hands
    them to the relay once it has committed."""
    session.info.setdefault(EVENTS_KEY, []).extend(rows)


def before_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` inside the transaction, just before it commits (writes batched
    until the end, such as the outbox rows)."""
    session.info.setdefault(BEFORE_COMMIT_KEY, []).append(callback)


async def run_before_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(BEFORE_COMMIT_KEY, []):
        await callback()


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback).

    For side effects outside the database that must not get ahead of it, such
    as dropping a cache entry: dropped earlier, a concurrent reader could cache
    the old row again before the commit.
    """
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(AFTER_COMMIT_KEY, []):
        try:
            await callback()
        except Unavailable as exc:
            # A known outage (the cache's breaker is open): one line, no traceback;
            # what the follow-up did is retried from the outbox or expires.
            log.warning("after-commit callback skipped: %s", exc)
        except Exception:
            # The change is committed; a failed follow-up must not turn it into an error.
            log.exception("after-commit callback failed")
