"""The posts service's request fields: the documented pattern of post and comment text
takes exactly what their validators take (trimmed length, control characters)."""

from __future__ import annotations

import random
import re

import pytest
from pydantic import ValidationError

from minifb.posts.schemas import CommentCreate, PostCreate, PostUpdate

ALPHABET = " \t\n\x0b\r\x1c\x85\xa0\u3000\x00\x07\x7f\x9fabc01é"


def text_pattern(model: type[PostCreate | CommentCreate]) -> tuple[re.Pattern[str], int]:
    text = model.model_json_schema()["properties"]["text"]
    return re.compile(text["pattern"]), text["maxLength"]


@pytest.mark.parametrize("model", [PostCreate, CommentCreate])
def test_the_document_and_the_validator_agree(model: type[PostCreate | CommentCreate]) -> None:
    pattern, longest = text_pattern(model)
    limit = longest // 2
    rng = random.Random(11)
    values = [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 9))) for _ in range(20_000)
    ]
    # Around the trimmed limit: padding counts toward the raw length only.
    values += [" " * n + "a" * limit + " " * m for n in (0, 1, limit) for m in (0, 1, limit)]
    values += ["a" * (limit + 1), " " + "a" * limit, "a" * longest, "a" * (longest + 1)]
    disagree = []
    for value in values:
        documented = len(value) <= longest and pattern.search(value) is not None
        try:
            model.model_validate({"text": value})
            taken = True
        except ValidationError:
            taken = False
        if documented != taken:
            disagree.append(value if len(value) < 40 else f"{value[:20]!r}... ({len(value)})")
    assert not disagree, disagree[:10]


class TestTheDocumentOffersNoNull:
    def test_an_edit_may_leave_a_field_out_but_not_send_null(self) -> None:
        properties = PostUpdate.model_json_schema()["properties"]
        assert "null" not in str(properties)
        with pytest.raises(ValidationError):
            PostUpdate.model_validate({"text": None})

    def test_media_ids_are_at_most_ten_and_distinct(self) -> None:
        media = PostCreate.model_json_schema()["properties"]["media_ids"]
        assert media["maxItems"] == 10
        PostCreate.model_validate({"text": "a", "media_ids": [str(i) for i in range(1, 11)]})
        with pytest.raises(ValidationError, match="at most 10 images"):
            PostCreate.model_validate({"text": "a", "media_ids": [str(i) for i in range(1, 12)]})
        with pytest.raises(ValidationError, match="named twice"):
            PostCreate.model_validate({"text": "a", "media_ids": ["1", "1"]})
