"""The users service's request fields: their documented patterns take exactly what
their validators take, so a client (or schemathesis) reading the document is right."""

from __future__ import annotations

import random
import re

import pytest
from pydantic import TypeAdapter, ValidationError

from minifb.users.schemas import RESERVED_USERNAMES, Bio, DisplayName, Username

# Whitespace Python trims, control characters, letters and a few others.
ALPHABET = " \t\n\x0b\r\x1c\x85\xa0\u3000\x00\x07\x7fabcXYZ019_-é\u212a"


def takes(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def pattern_of(adapter: TypeAdapter[str]) -> tuple[re.Pattern[str], int, int]:
    schema = adapter.json_schema()
    return re.compile(schema["pattern"]), schema.get("minLength", 0), schema["maxLength"]


def documented(adapter: TypeAdapter[str], value: str) -> bool:
    pattern, shortest, longest = pattern_of(adapter)
    return shortest <= len(value) <= longest and pattern.search(value) is not None


def samples(seed: int, longest: int, count: int = 20_000) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest))) for _ in range(count)
    ]


@pytest.mark.parametrize(
    ("field", "longest"),
    [(Username, 34), (DisplayName, 70), (Bio, 12)],
    ids=["username", "display_name", "bio"],
)
def test_the_document_and_the_validator_agree(field: object, longest: int) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(field)
    extra = ["admin", " Admin ", "ADMIN", "admins", "abc", " abc ", "ab", "\u212aaa", "a" * 31]
    disagree = [
        v for v in samples(7, longest) + extra if documented(adapter, v) != takes(adapter, v)
    ]
    assert not disagree, disagree[:10]


class TestUsername:
    @pytest.mark.parametrize("name", sorted(RESERVED_USERNAMES))
    def test_reserved_names_are_refused_in_any_case(self, name: str) -> None:
        adapter: TypeAdapter[str] = TypeAdapter(Username)
        for given in (name, name.upper(), f" {name.title()} "):
            assert not takes(adapter, given)
            assert not documented(adapter, given)

    def test_the_kelvin_sign_is_not_a_k(self) -> None:
        # "\u212a".lower() == "k": lower-casing first would take it.
        assert not takes(TypeAdapter(Username), "\u212aelvin")

    def test_kept_trimmed_and_in_lower_case(self) -> None:
        assert TypeAdapter(Username).validate_python("  Ada_1 ") == "ada_1"


class TestDisplayName:
    @pytest.mark.parametrize("blank", [" ", "   ", "\t\n", "\u3000"])
    def test_a_blank_name_is_refused(self, blank: str) -> None:
        assert not takes(TypeAdapter(DisplayName), blank)

    def test_kept_trimmed(self) -> None:
        assert TypeAdapter(DisplayName).validate_python("  Ada L. ") == "Ada L."
