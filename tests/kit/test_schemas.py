"""The shared request types: ids within signed 64 bits, text the database can store."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from minifb.kit.ids import MAX_ID
from minifb.kit.schemas import Id, Text

ids = TypeAdapter(Id)
texts = TypeAdapter(Text)


class TestId:
    @pytest.mark.parametrize("given", ["1", 1, str(MAX_ID), MAX_ID, "007"])
    def test_ids_in_range_are_taken_as_strings_or_numbers(self, given: str | int) -> None:
        assert ids.validate_python(given) == int(given)

    @pytest.mark.parametrize(
        "given",
        [
            str(MAX_ID + 1),  # 19 digits, past signed 64 bits
            MAX_ID + 1,
            "99999999999999999999",
            99999999999999999999,
            "0",
            -1,
            "-1",
            "+5",
            "²",  # str.isdigit() says yes
            "\u0665",
            True,
            "",
        ],
    )
    def test_ids_outside_signed_64_bits_or_not_numbers_are_refused(self, given: object) -> None:
        with pytest.raises(ValidationError):
            ids.validate_python(given)

    def test_they_answer_as_strings(self) -> None:
        assert ids.dump_json(MAX_ID) == f'"{MAX_ID}"'.encode()


class TestText:
    @pytest.mark.parametrize("given", ["", "plain", "tab\tnew\nline", "é 😀 \u200b", "\uffff"])
    def test_storable_text_passes_unchanged(self, given: str) -> None:
        assert texts.validate_python(given) == given

    @pytest.mark.parametrize("given", ["\x00", "a\x00b", "a\ud800", "\udfffb", "\ud83d"])
    def test_nul_and_lone_surrogates_are_refused(self, given: str) -> None:
        with pytest.raises(ValidationError) as refused:
            texts.validate_python(given)
        assert "NUL and unpaired surrogate" in str(refused.value)
