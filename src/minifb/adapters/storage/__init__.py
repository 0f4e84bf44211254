"""The storage port and its implementations, picked by `MINIFB_STORAGE_URL`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from minifb.adapters.storage.base import PresignedUpload, Storage, StoredObjectMissing
from minifb.adapters.storage.local import LocalStorage
from minifb.adapters.storage.s3 import S3Storage


def create_storage(
    url: str,
    *,
    region: str,
    endpoint_url: str | None = None,
    kms_key_id: str | None = None,
    base_url: str = "/api/v1/media/files",
    upload_url: str = "/api/v1/media/files",
) -> Storage:
    """`file://PATH` (relative to the working directory, or absolute with `file:///`)
    or `s3://BUCKET[/PREFIX]`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(
            Path(parts.netloc + parts.path), base_url=base_url, upload_url=upload_url
        )
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("an s3:// storage URL names its bucket: s3://BUCKET[/PREFIX]")
        prefix = parts.path.strip("/")
        return S3Storage(
            parts.netloc,
            region=region,
            endpoint_url=endpoint_url,
            kms_key_id=kms_key_id,
            prefix=f"{prefix}/" if prefix else "",
        )
    raise ValueError(f"unsupported storage URL scheme: {parts.scheme!r}")


__all__ = [
    "LocalStorage",
    "PresignedUpload",
    "S3Storage",
    "Storage",
    "StoredObjectMissing",
    "create_storage",
]
