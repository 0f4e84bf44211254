"""The local-disk storage: files under its root, URLs signed and short-lived."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from minifb.adapters.storage import LocalStorage, StoredObjectMissing


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", base_url="/files", upload_url="/uploads")


async def test_put_get_exists_delete(storage: LocalStorage) -> None:
    await storage.put("m/1/a.jpg", b"bytes", content_type="image/jpeg")
    assert await storage.exists("m/1/a.jpg")
    assert await storage.get("m/1/a.jpg") == b"bytes"
    await storage.delete("m/1/a.jpg", "m/1/never.jpg")
    assert not await storage.exists("m/1/a.jpg")
    with pytest.raises(StoredObjectMissing):
        await storage.get("m/1/a.jpg")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "", "a//b", "a/.."])
async def test_keys_stay_under_the_root(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.put(key, b"x", content_type="image/png")


async def test_a_url_is_signed_for_its_key_and_expires(storage: LocalStorage) -> None:
    url = await storage.url("m/1/a.jpg", ttl=60)
    parts = urlsplit(url)
    assert parts.path == "/files/m/1/a.jpg"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    expires, signature = int(query["expires"]), query["signature"]
    assert storage.verify("get", "m/1/a.jpg", expires, signature)
    assert not storage.verify("get", "m/1/b.jpg", expires, signature)
    assert not storage.verify("put", "m/1/a.jpg", expires, signature)
    assert not storage.verify("get", "m/1/a.jpg", expires + 1, signature)
    assert not storage.verify("get", "m/1/a.jpg", int(time.time()) - 1, signature)


async def test_another_process_on_the_same_root_signs_alike(
    storage: LocalStorage, tmp_path: Path
) -> None:
    url = await storage.url("k", ttl=60)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    other = LocalStorage(tmp_path / "media", base_url="/files", upload_url="/uploads")
    assert other.verify("get", "k", int(query["expires"]), query["signature"])
    stranger = LocalStorage(tmp_path / "elsewhere", base_url="/files", upload_url="/uploads")
    assert not stranger.verify("get", "k", int(query["expires"]), query["signature"])


async def test_an_upload_url_is_signed_for_its_size_and_type(storage: LocalStorage) -> None:
    upload = await storage.presigned_upload(
        "m/2/a.png", content_type="image/png", max_bytes=1000, ttl=60
    )
    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": "image/png"}
    query = {k: v[0] for k, v in parse_qs(urlsplit(upload.url).query).items()}
    expires, signature = int(query["expires"]), query["signature"]
    assert storage.verify("put", "m/2/a.png", expires, signature, "1000", "image/png")
    assert not storage.verify("put", "m/2/a.png", expires, signature, "2000", "image/png")
    assert not storage.verify("put", "m/2/a.png", expires, signature, "1000", "text/html")
