"""Uploads attached to nothing are removed, with their files, a day after they were made."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from minifb.kit.db import utcnow
from minifb.media import service as media
from tests.factories import People
from tests.media.test_access import image, post_with


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
