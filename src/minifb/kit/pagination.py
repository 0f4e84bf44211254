"""Cursor pagination over time-ordered ids (DESIGN §3)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from minifb.kit.errors import InvalidInput

T = TypeVar("T")
_PREFIX = "v1:"


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError(cursor)
        key = int(raw[len(_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "The cursor is not valid.",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        ) from None
    if key < 0:
        raise InvalidInput("The cursor is not valid.")
    return key


@dataclass(frozen=True, slots=True)
class PageParams:
    """`?cursor=&limit=`: the cursor is the key after which the next page starts."""

    after: int | None
    limit: int


DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 64


async def _page_params(
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> PageParams:
    return PageParams(after=decode_cursor(cursor) if cursor else None, limit=limit)


def page_params_from(query: Mapping[str, str]) -> PageParams:
    """`PageDep`'s rules applied by hand, for a route that skips dependency injection."""
    cursor = query.get("cursor") or None
    raw = query.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw is None else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            "The request is not valid.",
            errors=[{"loc": ["query", "limit"], "msg": f"1 to {MAX_LIMIT}", "type": "value_error"}],
        )
    if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidInput("The cursor is not valid.")
    return PageParams(after=decode_cursor(cursor) if cursor else None, limit=limit)


PAGE_PARAMETERS_OPENAPI = [
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
]


PageDep = Annotated[PageParams, Depends(_page_params)]


def page_of(
    rows: Sequence[T], params: PageParams, key: Callable[[T], int]
) -> tuple[list[T], str | None]:
    """Split a `limit + 1` fetch into the page and the cursor of the next one."""
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, encode_cursor(key(items[-1])) if more and items else None
