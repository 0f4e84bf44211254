from __future__ import annotations

import pytest

from minifb.kit.errors import InvalidInput
from minifb.kit.pagination import PageParams, decode_cursor, encode_cursor, page_of


class TestCursor:
    def test_round_trip(self) -> None:
        assert decode_cursor(encode_cursor(1234567890123)) == 1234567890123

    @pytest.mark.parametrize("bad", ["", "!!!", "djE6YWJj", "eHl6OjEy", "djE6LTU"])
    def test_garbage_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


class TestPageOf:
    def test_more_rows_than_limit_gives_a_cursor_to_the_last_item(self) -> None:
        items, cursor = page_of([5, 4, 3], PageParams(after=None, limit=2), key=lambda x: x)
        assert items == [5, 4]
        assert cursor is not None
        assert decode_cursor(cursor) == 4

    def test_last_page_has_no_cursor(self) -> None:
        items, cursor = page_of([2, 1], PageParams(after=None, limit=2), key=lambda x: x)
        assert (items, cursor) == ([2, 1], None)
