"""`avatar_media_id` on PATCH /users/me: one's own upload becomes the profile picture."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import People, create_post
from tests.fixtures.events import settle
from tests.fixtures.http import API, assert_problem
from tests.media.test_access import image, seen


async def test_ones_own_upload_becomes_the_avatar(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    ana, bo = await people(2)
    media = await image(client, ana)
    post = await create_post(client, ana, "hello")
    changed = await client.patch(
        f"{API}/users/me", json={"avatar_media_id": media["id"]}, headers=ana.headers
    )
    assert changed.status_code == 200, changed.text
    avatar_url = changed.json()["avatar_url"]
    assert avatar_url == f"/api/v1/media/{media['id']}/avatar"
    # Public, like the profile: no token needed.
    image_answer = await client.get(avatar_url)
    assert image_answer.status_code == 200
    assert image_answer.headers["content-type"] == "image/png"
    assert await seen(client, bo, media["id"]) == 200
    await settle(app)
    shown = await client.get(f"{API}/posts/{post['id']}", headers=bo.headers)
    assert shown.json()["author"]["avatar_url"] == avatar_url
    removed = await client.patch(
        f"{API}/users/me", json={"avatar_media_id": None}, headers=ana.headers
    )
    assert removed.json()["avatar_url"] is None
    assert (await client.get(avatar_url)).status_code == 404
    assert await seen(client, bo, media["id"]) == 404


async def test_someone_elses_upload_cannot_be_ones_avatar(
    client: httpx.AsyncClient, people: People
) -> None:
    ana, bo = await people(2)
    media = await image(client, ana)
    refused = await client.patch(
        f"{API}/users/me", json={"avatar_media_id": media["id"]}, headers=bo.headers
    )
    problem = assert_problem(refused, 422)
    assert problem["errors"][0]["loc"] == ["body", "avatar_media_id"]
    assert (await client.get(f"/api/v1/media/{media['id']}/avatar")).status_code == 404
