"""Cursor pagination over time-ordered ids (DESIGN §3)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
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


async def _page_params(
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(after=decode_cursor(cursor) if cursor else None, limit=limit)


PageDep = Annotated[PageParams, Depends(_page_params)]


def page_of(
    rows: Sequence[T], params: PageParams, key: Callable[[T], int]
) -> tuple[list[T], str | None]:
    """Split a `limit + 1` fetch into the page and the cursor of the next one."""
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, encode_cursor(key(items[-1])) if more and items else None
