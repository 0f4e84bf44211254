"""The storage port: blobs under keys the server chooses, and short-lived URLs to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class StoredObjectMissing(LookupError):
    """No object is stored under the key asked for."""


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client uploads one object directly: a `method` request to `url`.

    A POST is a multipart form with `fields` (in order, before the file, which goes
    last as `file`); a PUT sends the bytes as the body with the `headers`.
    """

    method: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    """Where media bytes live (local disk, S3). Every key is chosen by the server."""

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""

    async def get(self, key: str) -> bytes:
        """The bytes under `key`; `StoredObjectMissing` when there are none."""

    async def delete(self, *keys: str) -> None:
        """Remove `keys`; a missing one is no error."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    async def url(self, key: str, *, ttl: int) -> str:
        """A URL that reads `key` for the next `ttl` seconds, and no longer."""

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, ttl: int
    ) -> PresignedUpload:
        """A direct upload to `key` for `ttl` seconds, of at most `max_bytes` of
        `content_type` (the storage itself refuses anything else)."""

    async def ping(self) -> None:
        """Raise when the storage cannot be reached (readiness)."""
