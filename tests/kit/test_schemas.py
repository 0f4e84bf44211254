"""The shared request types: ids within signed 64 bits, text the database can store."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from minifb.kit.ids import MAX_ID
from minifb.kit.schemas import ID_PATTERN, MAX_JSON_INTEGER, BodyId, Id, Text

ids = TypeAdapter(Id)
body_ids = TypeAdapter(BodyId)
texts = TypeAdapter(Text)


class TestId:
    @pytest.mark.parametrize("given", ["1", 1, str(MAX_ID), MAX_ID, "007"])
    def test_ids_in_range_are_taken_as_strings_or_numbers(self, given: str | int) -> None:
        assert ids.validate_python(given) == int(given)

    @pytest.mark.parametrize(
        "given", ["1", 1, 5.0, MAX_JSON_INTEGER, str(MAX_JSON_INTEGER + 1), str(MAX_ID)]
    )
    def test_a_body_takes_numbers_a_json_parser_holds_exactly(self, given: str | int) -> None:
        assert body_ids.validate_python(given) == int(given)

    @pytest.mark.parametrize("given", [MAX_JSON_INTEGER + 1, MAX_ID, float(MAX_JSON_INTEGER + 1)])
    def test_a_body_refuses_numbers_a_json_parser_may_have_rounded(self, given: float) -> None:
        with pytest.raises(ValidationError, match="must be sent as a string"):
            body_ids.validate_python(given)

    @pytest.mark.parametrize(
        "given",
        ["1", "007", "0000000000000000001", "999999999999999999", str(MAX_ID), str(MAX_ID - 1)]
        + [str(MAX_ID)[:i] + "0" * (19 - i) for i in range(1, 19)],
    )
    def test_the_documented_pattern_takes_what_the_parser_takes(self, given: str) -> None:
        assert re.fullmatch(ID_PATTERN, given)
        assert ids.validate_python(given) == int(given)

    @pytest.mark.parametrize(
        "given",
        ["0", "000", "00000000000000000001", str(MAX_ID + 1), "9300000000000000000", "1a", ""],
    )
    def test_the_documented_pattern_refuses_what_the_parser_refuses(self, given: str) -> None:
        assert not re.fullmatch(ID_PATTERN, given) or len(given) > 19
        with pytest.raises(ValidationError):
            ids.validate_python(given)

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
