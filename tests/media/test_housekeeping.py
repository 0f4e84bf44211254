"""Uploads attached to nothing are removed, with their files, a day after they were made;
the images of a deleted post or message at the next run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.resilience import Unavailable
from minifb.kit.db import utcnow
from minifb.media import repository as media_repository
from minifb.media import service as media
from tests.factories import People, befriend, send_message, start_conversation
from tests.media.corpus import image_bytes
from tests.media.test_access import image, post_with
from tests.media.test_upload import upload


def _images(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


async def test_unattached_uploads_older_than_a_day_go(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    (ana,) = await people(1)
    loose, kept = await image(client, ana), await image(client, ana)
    assert (await post_with(client, ana, [kept["id"]])).status_code == 201
    container = app.state.container
    root: Path = container.media.storage.root
    assert len(_images(root)) == 4  # two renditions each

    assert await media.remove_stale(container.db, container.media, utcnow()) == 0
    later = utcnow() + timedelta(hours=24, minutes=1)
    assert await media.remove_stale(container.db, container.media, later) == 1

    assert len(_images(root)) == 2
    gone = await client.get(f"/api/v1/media/{loose['id']}", headers=ana.headers)
    assert gone.status_code == 404
    still = await client.get(f"/api/v1/media/{kept['id']}", headers=ana.headers)
    assert still.status_code == 200


async def test_the_images_of_a_deleted_post_go_at_the_next_run(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    (ana,) = await people(1)
    shown, kept = await image(client, ana), await image(client, ana)
    post = (await post_with(client, ana, [shown["id"]])).json()
    assert (await post_with(client, ana, [kept["id"]])).status_code == 201
    container = app.state.container
    root: Path = container.media.storage.root
    deleted = await client.delete(f"/api/v1/posts/{post['id']}", headers=ana.headers)
    assert deleted.status_code == 204

    # Not a day later: at once, since nothing can attach them again.
    assert await media.remove_stale(container.db, container.media, utcnow()) == 1
    assert len(_images(root)) == 2
    gone = await client.get(f"/api/v1/media/{shown['id']}", headers=ana.headers)
    assert gone.status_code == 404
    still = await client.get(f"/api/v1/media/{kept['id']}", headers=ana.headers)
    assert still.status_code == 200


async def test_the_images_of_a_conversation_everyone_left_go_at_the_next_run(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    ana, bo, cy = await people(3)
    for other in (bo, cy):
        await befriend(client, ana, other)
    made = await start_conversation(client, ana, bo, cy)
    sent = await image(client, ana)
    await send_message(client, ana, made["id"], "see", media_ids=[sent["id"]])
    container = app.state.container
    assert await media.remove_stale(container.db, container.media, utcnow()) == 0
    for who in (ana, bo, cy):
        left = await client.delete(
            f"/api/v1/conversations/{made['id']}/members/me", headers=who.headers
        )
        assert left.status_code == 204
    assert await media.remove_stale(container.db, container.media, utcnow()) == 1
    assert _images(container.media.storage.root) == []


async def test_an_upload_whose_last_write_failed_leaves_no_file_behind(
    app: FastAPI, client: httpx.AsyncClient, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ana,) = await people(1)
    container = app.state.container
    root: Path = container.media.storage.root
    real_get = media_repository.get

    async def database_gone(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("database")

    monkeypatch.setattr(media_repository, "get", database_gone)
    failed = await upload(client, ana, image_bytes("PNG", (40, 30)))
    assert failed.status_code == 503, failed.text
    monkeypatch.setattr(media_repository, "get", real_get)
    assert len(_images(root)) == 2  # stored before the write that failed

    later = utcnow() + timedelta(hours=24, minutes=1)
    assert await media.remove_stale(container.db, container.media, later) == 1
    assert _images(root) == []
