"""Helpers of the messages suites."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Person
from tests.fixtures.http import API, assert_problem


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a problem with this status and code (the last part of its `type`)."""
    body = assert_problem(response, status)
    assert body["type"].rsplit("/", 1)[-1] == code, body
    return body


async def create(client: httpx.AsyncClient, who: Person, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{API}/conversations", json=body, headers=who.headers)
