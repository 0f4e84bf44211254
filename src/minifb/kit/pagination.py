"""Cursor pagination over time-ordered ids (DESIGN §3)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

from minifb.kit.errors import InvalidInput
from minifb.kit.ids import MAX_ID

T = TypeVar("T")
_PREFIX = "v1:"
# ASCII digits only: int() would also take "+5", " 5", "5_0" and other scripts' digits.
_KEY = re.compile(rb"v1:([0-9]{1,19})")
MAX_CURSOR_LENGTH = 64


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{key}".encode()).decode().rstrip("=")


def parse_cursor(cursor: str) -> int:
    """The key a cursor names; ValueError unless it is one this API could have issued:
    base64url of `v1:` and an id (1 to 2**63-1), so no other key reaches a query."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError(f"at most {MAX_CURSOR_LENGTH} characters")
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("not a cursor") from None
    match = _KEY.fullmatch(raw)
    if match is None or not 1 <= int(match[1]) <= MAX_ID:
        raise ValueError("not a cursor")
    return int(match[1])


def decode_cursor(cursor: str) -> int:
    """`parse_cursor`, refusing a bad cursor as a validation error of `?cursor=`."""
    try:
        return parse_cursor(cursor)
    except ValueError as exc:
        raise InvalidInput(
            "The cursor is not valid.",
            errors=[{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}],
        ) from None


@dataclass(frozen=True, slots=True)
class PageParams:
    """`?cursor=&limit=`: the cursor is the key after which the next page starts."""

    after: int | None
    limit: int


DEFAULT_LIMIT = 20
MAX_LIMIT = 100
CURSOR_DESCRIPTION = (
    "The `next_cursor` of the page before, as it came (an opaque token); "
    "left out or empty, the first page."
)
LIMIT_DESCRIPTION = f"At most this many items (1 to {MAX_LIMIT})."
# `format: cursor` names the opaque token (only a `next_cursor` is one).
CURSOR_SCHEMA_EXTRA = {"format": "cursor"}


async def _page_params(
    # Decoded by hand, not by a validator of the parameter: `page_params_from` must
    # refuse a cursor in the same words without the framework.
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description=CURSOR_DESCRIPTION,
            json_schema_extra=CURSOR_SCHEMA_EXTRA,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION)] = DEFAULT_LIMIT,
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
    return PageParams(after=decode_cursor(cursor) if cursor else None, limit=limit)


PAGE_PARAMETERS_OPENAPI = [
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": CURSOR_DESCRIPTION,
        "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH, **CURSOR_SCHEMA_EXTRA},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": LIMIT_DESCRIPTION,
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
