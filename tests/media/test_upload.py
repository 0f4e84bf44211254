"""POST /media: what is taken, what is refused, and what survives of an upload."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from minifb.media.schemas import MediaRead
from tests.factories import People, Person
from tests.fixtures.app import AppFactory
from tests.fixtures.http import API, assert_problem
from tests.media.corpus import (
    GPS_IFD,
    HTML,
    POLYGLOT,
    SVG,
    TEXT,
    animated_gif,
    gps_exif,
    image_bytes,
    left_half_red,
    png_header_only,
)


async def upload(
    client: httpx.AsyncClient,
    who: Person,
    data: bytes,
    *,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
    description: str | None = None,
) -> httpx.Response:
    fields: dict[str, Any] = {} if description is None else {"description": description}
    return await client.post(
        f"{API}/media",
        headers=who.headers,
        files={"file": (name, data, content_type)},
        data=fields,
    )


async def fetch(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.content


class TestTaken:
    @pytest.mark.parametrize(
        ("fmt", "stored"),
        [
            ("JPEG", "image/jpeg"),
            ("PNG", "image/png"),
            ("GIF", "image/png"),
            ("WEBP", "image/webp"),
        ],
    )
    async def test_each_format_gives_two_renditions(
        self, client: httpx.AsyncClient, people: People, fmt: str, stored: str
    ) -> None:
        (ana,) = await people(1)
        response = await upload(client, ana, image_bytes(fmt, (2000, 1000)), name="x.bin")
        assert response.status_code == 201, response.text
        body = response.json()
        MediaRead.model_validate(body)
        assert body["type"] == stored
        assert (body["width"], body["height"]) == (1080, 540)
        assert body["blurhash"]
        large = Image.open(io.BytesIO(await fetch(client, body["url"])))
        small = Image.open(io.BytesIO(await fetch(client, body["thumbnail_url"])))
        assert large.size == (1080, 540)
        assert small.size == (320, 160)
        assert body["size"] == len(await fetch(client, body["url"]))

    async def test_a_small_image_is_not_enlarged(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        body = (await upload(client, ana, image_bytes("PNG", (100, 60)))).json()
        assert (body["width"], body["height"]) == (100, 60)

    async def test_exif_and_gps_are_gone(self, client: httpx.AsyncClient, people: People) -> None:
        (ana,) = await people(1)
        data = image_bytes("JPEG", exif=gps_exif())
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the upload has GPS
        body = (await upload(client, ana, data)).json()
        for url in (body["url"], body["thumbnail_url"]):
            stored = await fetch(client, url)
            image = Image.open(io.BytesIO(stored))
            assert not image.getexif()
            assert "exif" not in image.info
            assert b"Exif" not in stored
            assert b"Camera maker" not in stored

    async def test_the_orientation_is_applied(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        out = io.BytesIO()
        # Orientation 6: shown rotated 90 degrees clockwise; 400x200 as stored, 200x400 shown.
        left_half_red().save(out, "PNG", exif=gps_exif(orientation=6).tobytes())
        body = (await upload(client, ana, out.getvalue())).json()
        assert (body["width"], body["height"]) == (200, 400)
        image = Image.open(io.BytesIO(await fetch(client, body["url"]))).convert("RGB")
        assert image.size == (200, 400)
        top, bottom = image.getpixel((100, 10)), image.getpixel((100, 390))
        assert top == (255, 0, 0)  # the left (red) half is now on top
        assert bottom == (0, 0, 255)
        assert not image.getexif()

    async def test_a_polyglot_jpeg_keeps_no_trailing_payload(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        body = (await upload(client, ana, image_bytes("JPEG") + HTML)).json()
        assert b"<script>" not in await fetch(client, body["url"])

    async def test_the_description_is_kept_and_can_change(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        body = (await upload(client, ana, image_bytes(), description="A red square")).json()
        assert body["description"] == "A red square"
        changed = await client.patch(
            f"{API}/media/{body['id']}", headers=ana.headers, json={"description": None}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["description"] is None
        too_long = await client.patch(
            f"{API}/media/{body['id']}", headers=ana.headers, json={"description": "x" * 1501}
        )
        assert_problem(too_long, 422)
        refused = await upload(client, ana, image_bytes(), description="x" * 1501)
        assert_problem(refused, 422)

    @pytest.mark.parametrize("text", ["a\x00b", "a\x01b", "a\x7fb"])
    async def test_a_description_with_a_control_character_is_refused(
        self, client: httpx.AsyncClient, people: People, text: str
    ) -> None:
        (ana,) = await people(1)
        kept_text = "Two lines\n\tand a tab"
        body = (await upload(client, ana, image_bytes(), description=kept_text)).json()
        assert body["description"] == kept_text
        changed = await client.patch(
            f"{API}/media/{body['id']}", headers=ana.headers, json={"description": text}
        )
        assert_problem(changed, 422)
        assert changed.json()["errors"][0]["loc"] == ["body", "description"]
        assert_problem(await upload(client, ana, image_bytes(), description=text), 422)
        kept = await client.get(f"{API}/media/{body['id']}", headers=ana.headers)
        assert kept.json()["description"] == kept_text


class TestRefused:
    @pytest.mark.parametrize(
        ("data", "name", "content_type"),
        [
            (SVG, "image.svg", "image/svg+xml"),
            (HTML, "page.html", "text/html"),
            (HTML, "photo.jpg", "image/jpeg"),
            (POLYGLOT, "photo.jpg", "image/jpeg"),
            (TEXT, "notes.txt", "text/plain"),
            (image_bytes("JPEG")[:400], "photo.jpg", "image/jpeg"),
            (animated_gif(), "funny.gif", "image/gif"),
            (b"", "empty.png", "image/png"),
        ],
        ids=["svg", "html", "html-named-jpg", "polyglot", "text", "truncated", "animated", "empty"],
    )
    async def test_what_is_not_a_still_image_is_415(
        self, client: httpx.AsyncClient, people: People, data: bytes, name: str, content_type: str
    ) -> None:
        (ana,) = await people(1)
        response = await upload(client, ana, data, name=name, content_type=content_type)
        assert assert_problem(response, 415)["type"].endswith("/unsupported-media-type")

    async def test_more_than_33_megapixels_is_refused_before_decoding(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        bomb = png_header_only(6000, 5700)  # 34.2 Mpx claimed, a few hundred bytes sent
        assert len(bomb) < 2000
        response = await upload(client, ana, bomb, name="bomb.png", content_type="image/png")
        assert assert_problem(response, 413)["type"].endswith("/media-too-large")

    async def test_over_the_size_limit_is_413(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        big = image_bytes("PNG") + b"\0" * (10 * 1024 * 1024)
        response = await upload(client, ana, big, name="big.png", content_type="image/png")
        assert assert_problem(response, 413)["type"].endswith("/media-too-large")

    async def test_a_large_body_is_refused_by_its_length_without_reading_it(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        read: list[int] = []

        async def body() -> Any:
            # 11 MiB announced; the app must not ask for more than the first chunk or two.
            for _ in range(11):
                read.append(1)
                yield b"\0" * (1024 * 1024)

        response = await client.post(
            f"{API}/media",
            headers={
                **ana.headers,
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": str(11 * 1024 * 1024),
            },
            content=body(),
        )
        assert assert_problem(response, 413)["type"].endswith("/media-too-large")
        assert len(read) <= 1

    async def test_a_streamed_body_is_cut_off_past_the_limit(
        self, make_client: AppFactory, people: People
    ) -> None:
        _, client = await make_client(media_max_bytes=64 * 1024)
        (ana,) = [await _register(client)]
        read: list[int] = []

        async def body() -> Any:
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            for _ in range(100):
                read.append(1)
                yield b"\0" * 16 * 1024

        response = await client.post(
            f"{API}/media",
            headers={**ana.headers, "Content-Type": "multipart/form-data; boundary=x"},
            content=body(),
        )
        assert assert_problem(response, 413)["type"].endswith("/media-too-large")
        assert len(read) < 10  # 64 KiB and the envelope's 16 KiB: 5 or 6 chunks

    async def test_no_file_field_is_422(self, client: httpx.AsyncClient, people: People) -> None:
        (ana,) = await people(1)
        response = await client.post(
            f"{API}/media", headers=ana.headers, files={"other": ("a.jpg", image_bytes())}
        )
        assert_problem(response, 422)

    async def test_no_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{API}/media", files={"file": ("a.jpg", image_bytes())})
        assert_problem(response, 401)


async def _register(client: httpx.AsyncClient) -> Person:
    from tests.factories import register

    return await register(client)


class TestRateLimit:
    async def test_the_31st_upload_in_30_minutes_is_429(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        tiny = image_bytes("PNG", (4, 4))
        for _ in range(30):
            assert (await upload(client, ana, tiny)).status_code == 201
        refused = await upload(client, ana, tiny)
        assert assert_problem(refused, 429)["type"].endswith("/too-many-requests")
        assert 0 < int(refused.headers["Retry-After"]) <= 1800
        assert (await upload(client, bo, tiny)).status_code == 201  # per person
