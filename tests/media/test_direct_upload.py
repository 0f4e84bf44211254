"""POST /media/uploads and /media/{id}/complete on local storage: a signed PUT to the
app, limited to the size and type given, then processed like POST /media."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.factories import People, Person
from tests.fixtures.http import API, assert_problem
from tests.media.corpus import HTML, gps_exif, image_bytes


async def offer(
    client: httpx.AsyncClient, who: Person, size: int, content_type: str = "image/jpeg"
) -> dict[str, object]:
    response = await client.post(
        f"{API}/media/uploads",
        json={"content_type": content_type, "size": size},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_an_upload_then_complete_gives_a_clean_image(
    client: httpx.AsyncClient, people: People
) -> None:
    (ana,) = await people(1)
    data = image_bytes("JPEG", (1600, 1200), exif=gps_exif())
    made = await offer(client, ana, len(data))
    upload = made["upload"]
    assert isinstance(upload, dict)
    assert upload["method"] == "PUT"
    # The upload URL needs no token: its signature is the grant.
    put = await client.put(upload["url"], content=data, headers=upload["headers"])
    assert put.status_code == 204, put.text
    pending = await client.get(f"{API}/media/{made['media_id']}", headers=ana.headers)
    assert pending.json()["url"] is None
    done = await client.post(f"{API}/media/{made['media_id']}/complete", headers=ana.headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["width"], body["height"]) == (1080, 810)
    stored = (await client.get(body["url"])).content
    assert not Image.open(io.BytesIO(stored)).getexif()


async def test_the_upload_url_holds_to_its_size(client: httpx.AsyncClient, people: People) -> None:
    (ana,) = await people(1)
    made = await offer(client, ana, 100)
    upload = made["upload"]
    assert isinstance(upload, dict)
    put = await client.put(upload["url"], content=b"x" * 101, headers=upload["headers"])
    assert_problem(put, 413)
    forged = str(upload["url"]).replace("size=100", "size=100000")
    assert_problem(await client.put(forged, content=b"x" * 101), 404)


async def test_complete_refuses_what_is_not_an_image(
    client: httpx.AsyncClient, people: People
) -> None:
    (ana,) = await people(1)
    made = await offer(client, ana, len(HTML))
    upload = made["upload"]
    assert isinstance(upload, dict)
    assert (await client.put(upload["url"], content=HTML)).status_code == 204
    done = await client.post(f"{API}/media/{made['media_id']}/complete", headers=ana.headers)
    assert_problem(done, 415)


async def test_complete_before_the_upload_is_422(client: httpx.AsyncClient, people: People) -> None:
    (ana,) = await people(1)
    made = await offer(client, ana, 1000)
    done = await client.post(f"{API}/media/{made['media_id']}/complete", headers=ana.headers)
    assert_problem(done, 422)


async def test_an_offer_over_the_limit_is_413(client: httpx.AsyncClient, people: People) -> None:
    (ana,) = await people(1)
    response = await client.post(
        f"{API}/media/uploads",
        json={"content_type": "image/png", "size": 10 * 1024 * 1024 + 1},
        headers=ana.headers,
    )
    assert_problem(response, 413)
    svg = await client.post(
        f"{API}/media/uploads",
        json={"content_type": "image/svg+xml", "size": 10},
        headers=ana.headers,
    )
    assert_problem(svg, 422)
