"""`@username` mentions found in a text when it is written."""

from __future__ import annotations

import pytest

from minifb.posts.mentions import MAX_MENTIONS, mentioned


class TestMentioned:
    @pytest.mark.parametrize(
        ("text", "names"),
        [
            ("hi @Ana and @bob_2!", ["ana", "bob_2"]),
            ("@ana @ANA @ana.", ["ana"]),
            ("(@ana)\n@bob,@cid", ["ana", "bob", "cid"]),
            ("mail ana@example.com or x@@bob", []),
            ("@ab is too short, @" + "a" * 31 + " too long", []),
            ("no one at all", []),
        ],
    )
    def test_finds_each_username_once_in_order(self, text: str, names: list[str]) -> None:
        assert mentioned(text) == names

    def test_passes_on_at_most_ten(self) -> None:
        text = " ".join(f"@person_{n}" for n in range(MAX_MENTIONS + 5))
        assert mentioned(text) == [f"person_{n}" for n in range(MAX_MENTIONS)]
