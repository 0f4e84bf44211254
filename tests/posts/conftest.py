"""Fixtures and helpers of the posts-service suites: people, posts, events, SQL log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from minifb.models import OutboxEvent
from tests.factories import Person, register
from tests.users.conftest import QueryLog

API = "/api/v1"
REACTIONS = ("like", "love", "haha", "wow", "sad", "angry")
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]
People = Callable[[int], Awaitable[list[Person]]]


@pytest.fixture
def people(client: httpx.AsyncClient) -> People:
    """Sign up `n` people."""

    async def make(n: int) -> list[Person]:
        return [await register(client) for _ in range(n)]

    return make


@pytest.fixture
def events(app: FastAPI) -> Events:
    """The `data` of every outbox event of one type, oldest first."""

    async def of_type(type_: str) -> list[dict[str, Any]]:
        async with app.state.container.db.transaction() as session:
            rows = await session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
            )
            return [dict(row.data) for row in rows]

    return of_type


@pytest.fixture
def queries(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueryLog]:
    """Record the statements the app runs while `recording`: through its engine, and
    straight on the driver through `Database.fetch` (the feed's warm path)."""
    log = QueryLog()
    db = app.state.container.db
    engine = db.engine.sync_engine
    direct = False  # inside Database.fetch, which on SQLite also passes the engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if log.recording and not direct:
            log.statements.append(statement)

    fetch = db.fetch

    async def recorded_fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        nonlocal direct
        if log.recording:
            log.statements.append(sql)
        direct = True
        try:
            return await fetch(sql, *params)
        finally:
            direct = False

    monkeypatch.setattr(db, "fetch", recorded_fetch)
    event.listen(engine, "before_cursor_execute", record)
    yield log
    event.remove(engine, "before_cursor_execute", record)


async def settle(app: FastAPI) -> None:
    """Wait until committed events are relayed and handled, so background consumers
    (the feed's fan-out) run no queries while a test counts the request's own."""
    container = app.state.container
    for _ in range(3):  # handlers may record events of their own
        while await container.relay.relay_once():
            pass
        await container.bus.drain()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


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


async def get_json(client: httpx.AsyncClient, path: str, who: Person, **params: Any) -> Any:
    """GET a path as someone, insisting on 200."""
    response = await client.get(f"{API}{path}", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def counts(**given: int) -> dict[str, int]:
    """Reaction counts: every type 0 unless given."""
    return {t: given.get(t, 0) for t in REACTIONS}


async def block(client: httpx.AsyncClient, blocker: Person, blocked: Person) -> None:
    response = await client.put(f"{API}/users/{blocked.id}/block", headers=blocker.headers)
    assert response.status_code == 204, response.text


async def follow(client: httpx.AsyncClient, follower: Person, followee: Person) -> None:
    response = await client.put(f"{API}/users/{followee.id}/follow", headers=follower.headers)
    assert response.status_code == 204, response.text
