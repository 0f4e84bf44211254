"""Factory functions for test data, created through the public API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    id: str
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


async def register(client: httpx.AsyncClient, username: str | None = None, **fields: str) -> Person:
    """Sign a new person up and return their tokens."""
    n = next(_counter)
    username = username or f"person_{n}"
    body = {
        "username": username,
        "email": fields.pop("email", f"{username}@example.com"),
        "password": fields.pop("password", PASSWORD),
        "display_name": fields.pop("display_name", f"Person {n}"),
        **fields,
    }
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return Person(
        id=data["user"]["id"],
        username=data["user"]["username"],
        email=body["email"],
        password=body["password"],
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        headers={"Authorization": f"Bearer {data['access_token']}"},
    )


async def befriend(client: httpx.AsyncClient, a: Person, b: Person) -> None:
    """Make two people friends through a request and its acceptance."""
    sent = await client.post("/api/v1/friend-requests", json={"user_id": b.id}, headers=a.headers)
    assert sent.status_code == 201, sent.text
    if sent.json().get("status") == "accepted":
        return
    accepted = await client.post(
        f"/api/v1/friend-requests/{sent.json()['id']}/accept", headers=b.headers
    )
    assert accepted.status_code == 200, accepted.text
