"""`Idempotency-Key`: a retried request gets the first answer back (today `POST /posts`).

An HTTP-wide concern, so it lives in the kernel: any route that creates
something can run its work through `once` inside the transaction of that
work. The key row is inserted first, in the same transaction, and holds the
response once it is built. Keys are per person and live 24 hours; the same
key with another request (method, path, body) is refused (422).

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
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database, affected, insert_ignore, utcnow
from minifb.kit.errors import Conflict, InvalidInput
from minifb.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_LOC = ["header", "Idempotency-Key"]


def _invalid(detail: str) -> list[dict[str, Any]]:
    return [{"loc": _LOC, "msg": detail, "type": "value_error"}]


class InvalidIdempotencyKey(InvalidInput):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=_invalid(detail))


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency-key-reused"

    def __init__(self) -> None:
        detail = "This Idempotency-Key was already used with a different request body."
        super().__init__(detail, errors=_invalid(detail))


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency-key-in-flight"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")


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
    await _drop_expired_key(session, user_id, key, before=now - KEY_LIFETIME)
    if not await _claim_key(session, user_id, key, fingerprint=fingerprint, created_at=now):
        row = await _get_key(session, user_id, key)
        if row is None:  # expired and dropped by someone else just now: a rare race
            raise IdempotencyKeyInFlight()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if row.status == 0:
            raise IdempotencyKeyInFlight()
        return Answer(row.status, row.body, replayed=True)
    body = await run()
    await _store_response(session, user_id, key, status=status, body=body)
    return Answer(status, body)


async def purge_expired(db: Database, now: datetime) -> int:
    """Remove keys past their 24 hours (a housekeeping job): without it a key stays
    until its owner sends it again. Returns how many went."""
    async with db.begin() as conn:
        result = await conn.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEY_LIFETIME)
        )
    return affected(result)


# Queries


class StoredKey(NamedTuple):
    """A key's row: the request it was first sent with and, once done, the answer."""

    fingerprint: str
    status: int  # 0 while the first request is in progress
    body: bytes


async def _drop_expired_key(
    session: AsyncSession, user_id: int, key: str, *, before: datetime
) -> None:
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < before,
        )
    )


async def _claim_key(
    session: AsyncSession, user_id: int, key: str, *, fingerprint: str, created_at: datetime
) -> bool:
    """Insert the key row (status 0: in progress); False when it already exists.

    On PostgreSQL a concurrent claim of the same key waits here until the first
    transaction ends; on SQLite the write lock queues it the same way.
    """
    result = await session.execute(
        insert_ignore(session, IdempotencyKey).values(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            status=0,
            body=b"",
            created_at=created_at,
        )
    )
    return affected(result) > 0


async def _get_key(session: AsyncSession, user_id: int, key: str) -> StoredKey | None:
    query = select(IdempotencyKey.fingerprint, IdempotencyKey.status, IdempotencyKey.body).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
    )
    row = (await session.execute(query)).first()
    return None if row is None else StoredKey(*row)


async def _store_response(
    session: AsyncSession, user_id: int, key: str, *, status: int, body: bytes
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status=status, body=body)
    )
