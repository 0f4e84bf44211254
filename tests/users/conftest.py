"""Fixtures of the users-service suites: people, and the events the app recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from minifb.models import OutboxEvent
from tests.factories import Person, register

Events = Callable[[str], Awaitable[list[dict[str, Any]]]]
People = Callable[[int], Awaitable[list[Person]]]


@pytest.fixture
def events(app: FastAPI) -> Events:
    """The `data` of every event of one type written to the outbox, oldest first.

    Events are not visible over HTTP until a consumer acts on them, so the
    suites read the outbox the transaction wrote them to.
    """

    async def of_type(type_: str) -> list[dict[str, Any]]:
        async with app.state.container.db.transaction() as session:
            rows = await session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
            )
            return [dict(row.data) for row in rows]

    return of_type


@pytest.fixture
def people(client: httpx.AsyncClient) -> People:
    """Sign up `n` people."""

    async def make(n: int) -> list[Person]:
        return [await register(client) for _ in range(n)]

    return make


class QueryLog:
    """The SQL statements the app ran while `recording`."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.recording = False

    def selects(self) -> list[str]:
        """The reads, leaving out the outbox relay's (it runs in the background)."""
        return [
            s
            for s in self.statements
            if s.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM outbox" not in s
        ]


@pytest.fixture
def queries(app: FastAPI) -> Iterator[QueryLog]:
    """Record the statements the app's engine executes (to show lists cost O(1) queries)."""
    log = QueryLog()
    engine = app.state.container.db.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if log.recording:
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield log
    event.remove(engine, "before_cursor_execute", record)
