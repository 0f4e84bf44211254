"""Small HTTP helpers of the users-service suites: lists of ids, friend requests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Person
from tests.fixtures.http import API, get_json


async def ids(client: httpx.AsyncClient, path: str, who: Person, **params: Any) -> list[str]:
    """The ids of the items of one page of a list."""
    body = await get_json(client, path, who, **params)
    return [item["id"] for item in body["items"]]


async def all_ids(client: httpx.AsyncClient, path: str, who: Person, *, limit: int) -> list[str]:
    """The ids of every item of a list, following cursors page by page."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = await get_json(client, path, who, **params)
        found.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def send_request(client: httpx.AsyncClient, sender: Person, to: Person) -> httpx.Response:
    return await client.post(
        f"{API}/friend-requests", json={"user_id": to.id}, headers=sender.headers
    )


async def request_id(client: httpx.AsyncClient, sender: Person, to: Person) -> str:
    """Send a friend request that must stay pending and return its id."""
    response = await send_request(client, sender, to)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    return str(response.json()["id"])


async def set_policy(client: httpx.AsyncClient, who: Person, policy: str) -> None:
    response = await client.patch(
        f"{API}/users/me",
        json={"settings": {"friend_requests_from": policy}},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
