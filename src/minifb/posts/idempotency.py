"""`Idempotency-Key` on `POST /posts`: a retried request gets the first answer.

The key row is inserted first, in the same transaction as the post, and holds
the response once it is built. Keys are per person and live 24 hours; the
same key with another body is refused (422).

Concurrent requests with one key: the second one's INSERT waits until the
first transaction ends (PostgreSQL waits on the unique index entry; SQLite
queues writers), then finds the committed row and replays its response. If
the first one failed, its row is gone and the second proceeds as a new
request. So the in-flight 409 (`IdempotencyKeyInFlight`) is only a guard for a
row seen without a response, which committed data never holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database, utcnow
from minifb.posts import repository as repo
from minifb.posts.exceptions import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False


def check_key(key: str) -> str:
    """1..255 printable ASCII characters, else 422."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"The Idempotency-Key must be 1 to {MAX_KEY_LENGTH} long.")
    if not all(" " <= c <= "~" for c in key):
        raise InvalidIdempotencyKey("The Idempotency-Key must be printable ASCII.")
    return key


def fingerprint(method: str, path: str, body: object) -> str:
    """SHA-256 of the request: its method, path and validated body (key order ignored)."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{method} {path} ".encode() + canonical).hexdigest()


async def once(
    session: AsyncSession,
    user_id: int,
    key: str | None,
    *,
    fingerprint: str,
    status: int,
    run: Callable[[], Awaitable[bytes]],
) -> Answer:
    """Run `run` unless this person already sent `key`; then replay the stored answer."""
    if key is None:
        return Answer(status, await run())
    key = check_key(key)
    now = utcnow()
    await repo.drop_expired_key(session, user_id, key, before=now - KEY_LIFETIME)
    if not await repo.claim_key(session, user_id, key, fingerprint=fingerprint, created_at=now):
        row = await repo.get_key(session, user_id, key)
        if row is None:  # expired and dropped by someone else just now: a rare race
            raise IdempotencyKeyInFlight()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if row.status == 0:
            raise IdempotencyKeyInFlight()
        return Answer(row.status, row.body, replayed=True)
    body = await run()
    await repo.store_response(session, user_id, key, status=status, body=body)
    return Answer(status, body)


async def purge_expired(db: Database, now: datetime) -> int:
    """Remove keys past their 24 hours (a housekeeping job): without it a key stays
    until its owner sends it again."""
    return await repo.delete_keys_before(db, now - KEY_LIFETIME)
