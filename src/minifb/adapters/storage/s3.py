"""Media in an S3 bucket (or an S3-compatible endpoint), through boto3.

boto3 blocks: every call runs in this adapter's own bounded thread pool, never
on the event loop. Objects are written with server-side encryption (AES256, or
aws:kms with the key id given); URLs are presigned (SigV4) and expire; a direct
upload is a presigned POST whose policy holds the client to one key, one content
type and a size range. Certificates are always checked (boto3's default, never
turned off here).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from minifb.adapters.storage.base import PresignedUpload, StoredObjectMissing
from minifb.adapters.storage.local import check_key

T = TypeVar("T")
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        kms_key_id: str | None = None,
        prefix: str = "",
        threads: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._kms_key_id = kms_key_id
        config = Config(
            region_name=region,
            signature_version="s3v4",
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=threads,
            # An endpoint of its own (MinIO, moto, a VPC endpoint) is addressed by path.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        # endpoint_url None lets boto3 read AWS_ENDPOINT_URL(_S3) itself, or use AWS's.
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=config
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3")

    async def _call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, **kwargs))

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _encryption(self) -> dict[str, str]:
        """The server-side encryption every object is written with."""
        if self._kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await self._call(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            **self._encryption(),
        )

    async def get(self, key: str) -> bytes:
        try:
            answer = await self._call(
                self._client.get_object, Bucket=self.bucket, Key=self._key(key)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise StoredObjectMissing(key) from exc
            raise
        body = answer["Body"]
        data: bytes = await self._call(body.read)
        return data

    async def delete(self, *keys: str) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 at most
            chunk = keys[start : start + 1000]
            await self._call(
                self._client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True},
            )

    async def exists(self, key: str) -> bool:
        try:
            await self._call(self._client.head_object, Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    async def url(self, key: str, *, ttl: int) -> str:
        url: str = await self._call(
            self._client.generate_presigned_url,
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=ttl,
        )
        return url

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, ttl: int
    ) -> PresignedUpload:
        encryption = {"x-amz-server-side-encryption": "aws:kms" if self._kms_key_id else "AES256"}
        if self._kms_key_id:
            encryption["x-amz-server-side-encryption-aws-kms-key-id"] = self._kms_key_id
        fields = {"Content-Type": content_type, **encryption}
        conditions: list[Any] = [
            ["content-length-range", 1, max_bytes],
            {"Content-Type": content_type},
            *({name: value} for name, value in encryption.items()),
        ]
        post: dict[str, Any] = await self._call(
            self._client.generate_presigned_post,
            Bucket=self.bucket,
            Key=self._key(key),
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=ttl,
        )
        return PresignedUpload(method="POST", url=post["url"], fields=dict(post["fields"]))

    async def ping(self) -> None:
        await self._call(self._client.head_bucket, Bucket=self.bucket)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
