"""Media on local disk, served by the app itself through HMAC-signed, short-lived URLs.

A URL is `{base}/{key}?expires={unix time}&signature={hex}`, the signature an
HMAC-SHA256 over the operation, the key, the expiry (and for an upload the size
limit and content type) with a key kept beside the files (`.signing-key`, made on
first use, so every process on the host signs alike). The app's route for
`base` checks it with `verify` before it reads or writes a byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from minifb.adapters.storage.base import PresignedUpload, StoredObjectMissing

# Keys are the server's own: letters, digits, `-`, `_`, `.` in `/`-separated parts.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")
SIGNING_KEY_FILE = ".signing-key"


def check_key(key: str) -> str:
    """`key` if it is a well-formed storage key (no `..`, no absolute path), else ValueError."""
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files under `root`; URLs under `base_url` (a path the app serves)."""

    def __init__(self, root: Path, *, base_url: str, upload_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.upload_url = upload_url.rstrip("/")
        self._secret: bytes | None = None

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _signing_key(self) -> bytes:
        if self._secret is None:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.root / SIGNING_KEY_FILE
            try:
                # O_EXCL: of two processes starting together, one writes and both read it.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
            for _ in range(50):
                text = path.read_text().strip()
                if len(text) == 64:
                    self._secret = bytes.fromhex(text)
                    break
                time.sleep(0.01)  # the other process is still writing it
            else:
                raise RuntimeError(f"{path} is not a 64-digit hex key")
        return self._secret

    def _sign(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        return hmac.new(self._signing_key(), message, hashlib.sha256).hexdigest()

    def verify(self, operation: str, key: str, expires: int, signature: str, *extra: str) -> bool:
        """Whether `signature` is this storage's for the operation and has not expired."""
        if expires < time.time():
            return False
        expected = self._sign(operation, key, str(expires), *extra)
        return hmac.compare_digest(expected, signature)

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)  # readers see the whole file or none

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StoredObjectMissing(key) from exc

    def _remove(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    async def delete(self, *keys: str) -> None:
        await asyncio.to_thread(self._remove, keys)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def url(self, key: str, *, ttl: int) -> str:
        check_key(key)
        expires = int(time.time()) + ttl
        query = urlencode({"expires": expires, "signature": self._sign("get", key, str(expires))})
        return f"{self.base_url}/{key}?{query}"

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, ttl: int
    ) -> PresignedUpload:
        check_key(key)
        expires = int(time.time()) + ttl
        signature = self._sign("put", key, str(expires), str(max_bytes), content_type)
        query = urlencode(
            {"expires": expires, "size": max_bytes, "type": content_type, "signature": signature}
        )
        return PresignedUpload(
            method="PUT",
            url=f"{self.upload_url}/{key}?{query}",
            headers={"Content-Type": content_type},
        )

    async def ping(self) -> None:
        await asyncio.to_thread(self._signing_key)
