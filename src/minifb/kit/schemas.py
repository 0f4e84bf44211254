"""Shared schema pieces: ids as JSON strings, storable text, strict base models, list pages.

Every id and every piece of text a request carries is one of the types here,
so what the database cannot store is refused at validation (422 naming the
field), the same way on every route and on every tier.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from minifb.kit.ids import MAX_ID


def _parse_id(value: Any) -> Any:
    # Ids travel as strings (JavaScript loses precision past 2**53) but accept ints.
    if isinstance(value, bool):
        raise ValueError("must be a numeric id string")
    if isinstance(value, str):
        # ASCII digits only: str.isdigit() also accepts "²" and other scripts' digits.
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise ValueError("must be a numeric id string")
        return int(value)
    return value


Id = Annotated[
    int,
    BeforeValidator(_parse_id),
    Field(ge=1, le=MAX_ID),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,19}$",
            "description": f"A numeric id, 1 to {MAX_ID}.",
            "examples": ["170412345678901234"],
        }
    ),
]

# NUL cannot be stored in PostgreSQL text (SQLite keeps it, so the tiers would
# differ); a lone UTF-16 surrogate (JSON "\ud800") is a Python str that no UTF-8
# encoder accepts: not the database driver, a hash, nor the JSON of an answer.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    if isinstance(value, str) and _UNSTORABLE.search(value) is not None:
        raise ValueError("NUL and unpaired surrogate characters are not allowed")
    return value


# The check of `Text`, for a string type of a library (EmailStr) that must pass it
# first: it runs before every other rule of the field, so none of them (nor an
# error message quoting the input) ever sees such a character.
STORABLE = BeforeValidator(_storable)

Text = Annotated[str, STORABLE]
"""Any string a request carries to the database or a hash (body fields, query text)."""


class Schema(BaseModel):
    """Base for request and response bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ReadSchema(BaseModel):
    """Base for response bodies built from ORM rows or dicts."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: `{"items": [...], "next_cursor": str | null}`."""

    items: list[T]
    next_cursor: str | None
