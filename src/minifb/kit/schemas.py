"""Shared schema pieces: ids as JSON strings, strict base models, list pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema


def _parse_id(value: Any) -> Any:
    # Ids travel as strings (JavaScript loses precision past 2**53) but accept ints.
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 19:
            raise ValueError("must be a numeric id string")
        return int(value)
    return value


Id = Annotated[
    int,
    BeforeValidator(_parse_id),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d{1,19}$", "examples": ["170412345678901234"]}
    ),
]


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
