"""Factory functions for test data, created through the public API.

People (`register`), the ties between them (`befriend`, `follow`, `block`)
and what they write (`create_post`, `comment`, `react`), each insisting on
the success status so a test reads as the story it sets up.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fixtures.http import API

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


# The `people` fixture: people(n) signs up n people.
People = Callable[[int], Awaitable[list[Person]]]


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
    response = await client.post(f"{API}/auth/register", json=body)
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


async def register_many(client: httpx.AsyncClient, n: int) -> list[Person]:
    """Sign up `n` people."""
    return [await register(client) for _ in range(n)]


async def befriend(client: httpx.AsyncClient, a: Person, b: Person) -> None:
    """Make two people friends through a request and its acceptance."""
    sent = await client.post(f"{API}/friend-requests", json={"user_id": b.id}, headers=a.headers)
    assert sent.status_code == 201, sent.text
    if sent.json().get("status") == "accepted":
        return
    accepted = await client.post(
        f"{API}/friend-requests/{sent.json()['id']}/accept", headers=b.headers
    )
    assert accepted.status_code == 200, accepted.text


async def block(client: httpx.AsyncClient, blocker: Person, blocked: Person) -> None:
    response = await client.put(f"{API}/users/{blocked.id}/block", headers=blocker.headers)
    assert response.status_code == 204, response.text


async def follow(client: httpx.AsyncClient, follower: Person, followee: Person) -> None:
    response = await client.put(f"{API}/users/{followee.id}/follow", headers=follower.headers)
    assert response.status_code == 204, response.text


async def create_post(
    client: httpx.AsyncClient, author: Person, text: str = "hello", **fields: Any
) -> dict[str, Any]:
    """Publish a post and return it, insisting on 201."""
    response = await client.post(
        f"{API}/posts", json={"text": text, **fields}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def comment(
    client: httpx.AsyncClient, who: Person, post_id: str, text: str = "nice", **fields: Any
) -> dict[str, Any]:
    """Comment on a post and return the comment, insisting on 201."""
    response = await client.post(
        f"{API}/posts/{post_id}/comments", json={"text": text, **fields}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def react(client: httpx.AsyncClient, who: Person, target: str, type_: str = "like") -> None:
    """Put a reaction on `target` (`posts/{id}` or `comments/{id}`), insisting on 200."""
    response = await client.put(
        f"{API}/{target}/reaction", json={"type": type_}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"type": type_}


async def accept_messages_from_everyone(client: httpx.AsyncClient, who: Person) -> None:
    """Set `messages_from: everyone`, so strangers may write to `who`."""
    response = await client.patch(
        f"{API}/users/me", json={"settings": {"messages_from": "everyone"}}, headers=who.headers
    )
    assert response.status_code == 200, response.text


async def start_conversation(
    client: httpx.AsyncClient, creator: Person, *others: Person, **fields: Any
) -> dict[str, Any]:
    """Start a conversation (direct with one other, a group with more) and return it,
    insisting on 201 (new) or 200 (the pair's existing direct one)."""
    response = await client.post(
        f"{API}/conversations",
        json={"participant_ids": [o.id for o in others], **fields},
        headers=creator.headers,
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def send_message(
    client: httpx.AsyncClient,
    sender: Person,
    conversation_id: str,
    text: str = "hi",
    **fields: Any,
) -> dict[str, Any]:
    """Send a message and return it, insisting on 201."""
    response = await client.post(
        f"{API}/conversations/{conversation_id}/messages",
        json={"text": text, **fields},
        headers=sender.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
