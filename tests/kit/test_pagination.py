from __future__ import annotations

import base64

import pytest

from minifb.kit.errors import InvalidInput
from minifb.kit.ids import MAX_ID
from minifb.kit.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    page_of,
    page_params_from,
)


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


class TestCursor:
    def test_round_trip(self) -> None:
        assert decode_cursor(encode_cursor(1234567890123)) == 1234567890123

    @pytest.mark.parametrize("bad", ["", "!!!", "djE6YWJj", "eHl6OjEy", "djE6LTU"])
    def test_garbage_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidInput):
            decode_cursor(bad)

    def test_the_whole_id_range_round_trips(self) -> None:
        for key in (1, MAX_ID):
            assert decode_cursor(encode_cursor(key)) == key

    @pytest.mark.parametrize(
        "text",
        [
            f"v1:{MAX_ID + 1}",  # past signed 64 bits: the database cannot bind it
            "v1:99999999999999999999",
            "v1:0",
            "v1:-1",
            "v1:+5",  # int() would take these four
            "v1: 5",
            "v1:5_0",
            "v1:\u0665",  # ARABIC-INDIC DIGIT FIVE
            "v1:5\n",
            "v2:5",
        ],
    )
    def test_a_key_this_api_never_issues_is_refused_naming_the_cursor(self, text: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            decode_cursor(raw_cursor(text))
        assert refused.value.errors is not None
        assert [e["loc"] for e in refused.value.errors] == [["query", "cursor"]]

    @pytest.mark.parametrize("bad", ["djE6MTIz\u0000", "djE6M!TIz", "djE6MTIz" + "A" * 60, "é"])
    def test_characters_outside_base64url_or_a_long_cursor_are_refused(self, bad: str) -> None:
        assert decode_cursor("djE6MTIz") == 123
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


class TestPageParamsFrom:
    """The bare routes' paging, without the framework: the same refusals as `PageDep`."""

    def test_defaults_and_a_cursor(self) -> None:
        assert page_params_from({}) == PageParams(after=None, limit=20)
        given = page_params_from({"cursor": encode_cursor(7), "limit": "3"})
        assert given == PageParams(after=7, limit=3)

    @pytest.mark.parametrize("cursor", [raw_cursor(f"v1:{MAX_ID + 1}"), "x" * 65])
    def test_a_bad_cursor_is_refused_naming_it(self, cursor: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            page_params_from({"cursor": cursor})
        assert refused.value.errors is not None
        assert [e["loc"] for e in refused.value.errors] == [["query", "cursor"]]


class TestPageOf:
    def test_more_rows_than_limit_gives_a_cursor_to_the_last_item(self) -> None:
        items, cursor = page_of([5, 4, 3], PageParams(after=None, limit=2), key=lambda x: x)
        assert items == [5, 4]
        assert cursor is not None
        assert decode_cursor(cursor) == 4

    def test_last_page_has_no_cursor(self) -> None:
        items, cursor = page_of([2, 1], PageParams(after=None, limit=2), key=lambda x: x)
        assert (items, cursor) == ([2, 1], None)
