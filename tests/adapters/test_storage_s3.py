"""The S3 storage against moto's server on a free localhost port (never real AWS)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from minifb.adapters.storage import S3Storage, StoredObjectMissing

BUCKET = "minifb-test-media"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        # moto accepts any credentials; these keep boto3 from looking for real ones.
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_PROFILE", raising=False)
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[S3Storage]:
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    storage = S3Storage(BUCKET, region="us-east-1", endpoint_url=moto_endpoint, prefix="media/")
    try:
        yield storage
    finally:
        storage.close()
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
        client.delete_bucket(Bucket=BUCKET)


async def test_put_get_exists_delete(s3: S3Storage) -> None:
    await s3.ping()
    await s3.put("m/1/a.jpg", b"bytes", content_type="image/jpeg")
    assert await s3.exists("m/1/a.jpg")
    assert await s3.get("m/1/a.jpg") == b"bytes"
    await s3.delete("m/1/a.jpg", "m/1/never.jpg")
    assert not await s3.exists("m/1/a.jpg")
    with pytest.raises(StoredObjectMissing):
        await s3.get("m/1/a.jpg")


async def test_objects_are_encrypted_at_rest_under_the_prefix(
    s3: S3Storage, moto_endpoint: str
) -> None:
    await s3.put("m/1/a.jpg", b"bytes", content_type="image/jpeg")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    head = client.head_object(Bucket=BUCKET, Key="media/m/1/a.jpg")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "image/jpeg"


async def test_with_a_kms_key_objects_use_it(moto_endpoint: str, s3: S3Storage) -> None:
    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    storage = S3Storage(BUCKET, region="us-east-1", endpoint_url=moto_endpoint, kms_key_id=key_id)
    try:
        await storage.put("k.png", b"x", content_type="image/png")
        client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        head = client.head_object(Bucket=BUCKET, Key="k.png")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert key_id in head["SSEKMSKeyId"]
    finally:
        storage.close()


async def test_a_presigned_url_reads_the_object(s3: S3Storage) -> None:
    # moto does not check signatures, so only the URL's form and its working are tested.
    await s3.put("m/1/a.jpg", b"bytes", content_type="image/jpeg")
    url = await s3.url("m/1/a.jpg", ttl=60)
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"bytes"


async def test_a_presigned_post_uploads_within_its_policy(s3: S3Storage) -> None:
    upload = await s3.presigned_upload("m/2/a.png", content_type="image/png", max_bytes=100, ttl=60)
    assert upload.method == "POST"
    assert upload.fields["Content-Type"] == "image/png"
    assert upload.fields["x-amz-server-side-encryption"] == "AES256"
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            upload.url, data=upload.fields, files={"file": ("a.png", b"p" * 50, "image/png")}
        )
        assert answer.status_code in (200, 204), answer.text
    assert await s3.get("m/2/a.png") == b"p" * 50
