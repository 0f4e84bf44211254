"""Small HTTP helpers shared by the users-service suites."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Person

API = "/api/v1"


async def get_ok(client: httpx.AsyncClient, path: str, who: Person, **params: Any) -> Any:
    """GET a path as someone and return the JSON body, insisting on 200."""
    response = await client.get(f"{API}{path}", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def ids(client: httpx.AsyncClient, path: str, who: Person, **params: Any) -> list[str]:
    """The ids of the items of one page of a list."""
    body = await get_ok(client, path, who, **params)
    return [item["id"] for item in body["items"]]


async def all_ids(client: httpx.AsyncClient, path: str, who: Person, *, limit: int) -> list[str]:
    """The ids of every item of a list, following cursors page by page."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = await get_ok(client, path, who, **params)
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


async def block(client: httpx.AsyncClient, blocker: Person, blocked: Person) -> None:
    response = await client.put(f"{API}/users/{blocked.id}/block", headers=blocker.headers)
    assert response.status_code == 204, response.text


async def follow(client: httpx.AsyncClient, follower: Person, followee: Person) -> None:
    response = await client.put(f"{API}/users/{followee.id}/follow", headers=follower.headers)
    assert response.status_code == 204, response.text


async def set_policy(client: httpx.AsyncClient, who: Person, policy: str) -> None:
    response = await client.patch(
        f"{API}/users/me",
        json={"settings": {"friend_requests_from": policy}},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
