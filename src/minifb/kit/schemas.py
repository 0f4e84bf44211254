"""Shared schema pieces: ids as JSON strings, storable text, strict base models, list pages.

Every id and every piece of text a request carries is one of the types here,
so what the database cannot store is refused at validation (422 naming the
field), the same way on every route and on every tier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.config import JsonDict

from minifb.kit.ids import MAX_ID

# The largest integer every JSON parser holds exactly (I-JSON, RFC 7493).
MAX_JSON_INTEGER = 2**53 - 1


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


def _numbers_up_to(limit: int) -> str:
    """A regular expression (unanchored) of the numbers 1 to `limit` written with
    exactly as many digits as `limit`, the first not 0."""
    digits = str(limit)
    branches = []
    for i, digit in enumerate(int(d) for d in digits):
        lowest = 1 if i == 0 else 0
        if digit > lowest:
            rest = len(digits) - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            branches.append(f"{digits[:i]}[{lowest}-{digit - 1}]{tail}")
    return "|".join([*branches, digits])


# What `_parse_id` and the bounds take, exactly: 1 to 19 ASCII digits (leading zeros
# allowed) whose value is 1 to MAX_ID. Below 19 digits any non-zero value fits.
_ID_DIGITS = len(str(MAX_ID))
ID_PATTERN = f"^(?:0*[1-9][0-9]{{0,{_ID_DIGITS - 2}}}|{_numbers_up_to(MAX_ID)})$"
_ID_STRING = {
    "type": "string",
    "minLength": 1,
    "maxLength": _ID_DIGITS,
    "pattern": ID_PATTERN,
}
ID_EXAMPLE = "170412345678901234"

Id = Annotated[
    int,
    BeforeValidator(_parse_id),
    Field(ge=1, le=MAX_ID),
    PlainSerializer(str, return_type=str, when_used="json"),
    # Answers carry ids as strings; requests may send a JSON integer too.
    WithJsonSchema(
        {
            "anyOf": [_ID_STRING, {"type": "integer", "minimum": 1, "maximum": MAX_JSON_INTEGER}],
            "description": f"A numeric id, 1 to {MAX_ID}, as a string of digits; "
            f"up to {MAX_JSON_INTEGER} it may be a JSON integer.",
            "examples": [ID_EXAMPLE],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {
            **_ID_STRING,
            "description": f"A numeric id, 1 to {MAX_ID}, as a string.",
            "examples": [ID_EXAMPLE],
        },
        mode="serialization",
    ),
]


def _exact_json_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > MAX_JSON_INTEGER:
        raise ValueError(f"an id past {MAX_JSON_INTEGER} must be sent as a string")
    return value


BodyId = Annotated[Id, BeforeValidator(_exact_json_number)]
"""An id in a request's JSON body: as documented, a JSON number is taken only up to
MAX_JSON_INTEGER, since a larger one may have been rounded on its way (an id past
it, as every real one is, travels as a string)."""

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

# The `pattern` of a `Text` field with no rule of its own: no NUL (see STORABLE).
NO_NUL = {"pattern": "^[^\\x00]*$"}

# The control characters a line of text refuses (newline and tab are allowed), as the
# inside of a regular expression's character class.
CONTROL = r"\x00-\x08\x0b-\x1f\x7f"
CONTROL_AND_C1 = r"\x00-\x08\x0b-\x1f\x7f-\x9f"


def no_control(value: str) -> str:
    """The check behind a `pattern` of `[^CONTROL]`: no control character but newline and tab."""
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value


def trimmed_text_pattern(forbidden: str, longest: int | None = None) -> str:
    """The `pattern` of a text field that is trimmed of whitespace before it is checked:
    trimmed, it is 1 to `longest` characters (any number when None), none of them in
    the character class `forbidden`. Whitespace is Python's (`str.strip`'s): `\\s`
    and the separators U+001C..U+001F, which a validator's `\\s` (Rust's, ECMA's)
    leaves out."""
    space = r"\s\x1c-\x1f"
    edge = rf"[^{space}{forbidden}]"
    middle = f"[^{forbidden}]" + (f"{{0,{longest - 2}}}" if longest else "*")
    return rf"^[{space}]*{edge}(?:{middle}{edge})?[{space}]*$"


def partial_update(
    *examples: dict[str, Any], nullable: Collection[str] = ()
) -> Callable[[JsonDict], None]:
    """The `json_schema_extra` of a partial update's body, whose fields may be left out
    but not sent as null (its validator refuses null): the document offers no null
    either, and shows these examples. The fields stay `X | None`, so a refusal
    names the field as any other does. The `nullable` fields take null (it clears
    them), and the document says so."""

    def extra(schema: JsonDict) -> None:
        properties = schema.get("properties")
        named = properties.items() if isinstance(properties, dict) else ()
        for prop in (value for name, value in named if name not in nullable):
            branches = prop.get("anyOf") if isinstance(prop, dict) else None
            if isinstance(prop, dict) and isinstance(branches, list) and _NULL in branches:
                rest = [branch for branch in branches if branch != _NULL]
                del prop["anyOf"]
                prop.pop("default", None)
                if len(rest) == 1 and isinstance(rest[0], dict):
                    prop.update(rest[0])
                else:
                    prop["anyOf"] = rest
        schema["examples"] = list(examples)

    return extra


_NULL = {"type": "null"}


class Schema(BaseModel):
    """Base for request and response bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ReadSchema(BaseModel):
    """Base for response bodies built from ORM rows or dicts."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


# `encode_cursor` of an id: what a `next_cursor` looks like.
CURSOR_EXAMPLE = "djE6MTcwNDEyMzQ1Njc4OTAxMjM0"


def _page_examples(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # A page of T shows T's own example as its one item.
    args = model.__pydantic_generic_metadata__["args"]
    extra = getattr(args[0], "model_config", {}).get("json_schema_extra") if args else None
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples:
        schema["examples"] = [{"items": examples[:1], "next_cursor": CURSOR_EXAMPLE}]


class Page(BaseModel, Generic[T]):
    """A page of a list: `{"items": [...], "next_cursor": str | null}`."""

    model_config = ConfigDict(json_schema_extra=_page_examples)

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass it back as `?cursor=` for the next page; null on the last page."
    )


MEDIA_PER_ITEM = 10
"""At most this many images on one post or one message (docs/decisions/0123)."""


def media_list(value: list[int]) -> list[int]:
    """`media_ids`: at most `MEDIA_PER_ITEM`, none twice (the media service checks each)."""
    if len(value) > MEDIA_PER_ITEM:
        raise ValueError(f"at most {MEDIA_PER_ITEM} images")
    if len(set(value)) != len(value):
        raise ValueError("an image is named twice")
    return value
