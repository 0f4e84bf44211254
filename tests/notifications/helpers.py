"""Reading notifications in tests, once the events before have been handled."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import Person
from tests.fixtures.events import settle
from tests.fixtures.http import get_json


async def inbox(app: FastAPI, client: httpx.AsyncClient, who: Person, **params: Any) -> list[Any]:
    """Someone's notifications (one page, newest first) once the events are handled."""
    await settle(app)
    body = await get_json(client, "/notifications", who, **params)
    items: list[Any] = body["items"]
    return items


async def unread(app: FastAPI, client: httpx.AsyncClient, who: Person) -> int:
    await settle(app)
    body = await get_json(client, "/notifications/unread-count", who)
    count: int = body["count"]
    return count


def kinds(items: list[Any]) -> list[str]:
    return [item["type"] for item in items]
