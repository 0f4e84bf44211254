"""Request and response bodies of the posts service (DESIGN §3).

Posts are answered as pre-serialised JSON by `rendering.py`; `PostRead` describes
that shape for OpenAPI and is the contract `rendering.py` is tested against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from minifb.kit.schemas import (
    CONTROL_AND_C1,
    BodyId,
    Id,
    ReadSchema,
    Schema,
    Text,
    media_list,
    partial_update,
    trimmed_text_pattern,
)
from minifb.media.schemas import MediaCard
from minifb.models.post import Visibility
from minifb.models.reaction import ReactionType
from minifb.users.schemas import USER_EXAMPLE
from minifb.users.service import UserRead

POST_TEXT_MAX = 5000
COMMENT_TEXT_MAX = 2000


def _text(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"at most {limit} characters")
        if any((ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160 for c in value):
            raise ValueError("control characters other than newline and tab are not allowed")
        return value

    return AfterValidator(check)


AUTHOR_EXAMPLE: dict[str, Any] = {
    "id": "170412345678901234",
    "username": "ada",
    "display_name": "Ada Lovelace",
    "avatar_url": None,
}
COUNTS_EXAMPLE: dict[str, Any] = {
    "like": 2,
    "love": 1,
    "haha": 0,
    "wow": 0,
    "sad": 0,
    "angry": 0,
}
POST_EXAMPLE: dict[str, Any] = {
    "id": "170412345678911111",
    "author": AUTHOR_EXAMPLE,
    "text": "The engine weaves algebraic patterns.",
    "visibility": "public",
    "media": [],
    "created_at": "2026-01-04T12:00:00Z",
    "edited_at": None,
    "counts": {"comments": 1, "reactions": COUNTS_EXAMPLE},
    "viewer_reaction": "love",
}
COMMENT_EXAMPLE: dict[str, Any] = {
    "id": "170412345678922222",
    "post_id": "170412345678911111",
    "parent_id": None,
    "author": AUTHOR_EXAMPLE,
    "text": "As the loom weaves flowers and leaves.",
    "created_at": "2026-01-04T12:05:00Z",
    "edited_at": None,
    "counts": {"replies": 0, "reactions": {**COUNTS_EXAMPLE, "like": 1, "love": 0}},
    "viewer_reaction": None,
}


def _text_field(limit: int) -> object:
    # The raw length is bounded too, so a huge body of spaces is refused before trimming.
    return Field(
        max_length=2 * limit,
        description=f"1 to {limit} characters once trimmed of surrounding whitespace; "
        "no control characters but newline and tab.",
        json_schema_extra={"pattern": trimmed_text_pattern(CONTROL_AND_C1, limit)},
    )


PostText = Annotated[Text, _text_field(POST_TEXT_MAX), _text(POST_TEXT_MAX)]
CommentText = Annotated[Text, _text_field(COMMENT_TEXT_MAX), _text(COMMENT_TEXT_MAX)]


class PostCreate(Schema):
    """`POST /posts`. `media_ids` attach your own uploads."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"text": "The engine weaves algebraic patterns.", "visibility": "public"}]
        }
    )

    text: PostText
    visibility: Visibility = Field(Visibility.public, description="Who may see the post.")
    media_ids: Annotated[
        list[BodyId],
        AfterValidator(media_list),
        Field(
            description="Your own uploads (`POST /media`), not attached to anything yet, "
            "in the order shown; at most 10.",
            json_schema_extra={"maxItems": 10, "uniqueItems": True},
        ),
    ] = []


class PostUpdate(Schema):
    """`PATCH /posts/{id}`: only the text and the visibility can change; null is refused."""

    model_config = ConfigDict(
        json_schema_extra=partial_update(
            {"text": "The engine weaves algebraic patterns, as a loom does."},
            {"visibility": "friends"},
        )
    )

    text: PostText | None = None
    visibility: Visibility | None = None

    @field_validator("text", "visibility")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class AuthorRead(ReadSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [AUTHOR_EXAMPLE]})

    id: Id
    username: str
    display_name: str
    avatar_url: str | None


class ReactionCountsRead(BaseModel):
    like: int = 0
    love: int = 0
    haha: int = 0
    wow: int = 0
    sad: int = 0
    angry: int = 0


class PostCounts(BaseModel):
    comments: int
    reactions: ReactionCountsRead


class PostRead(BaseModel):
    """A post as its viewer sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [POST_EXAMPLE]})

    id: Id
    author: AuthorRead
    text: str
    visibility: Visibility
    media: list[MediaCard] = Field(description="Its images; their URLs from `GET /media/{id}`.")
    created_at: datetime
    edited_at: datetime | None
    counts: PostCounts
    viewer_reaction: ReactionType | None


class CommentCreate(Schema):
    """`POST /posts/{id}/comments`; a reply to a reply attaches to the top comment."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "As the loom weaves flowers and leaves."}]}
    )

    text: CommentText
    parent_id: BodyId | None = Field(
        None, description="A comment of this post, to reply to; null or left out: a top comment."
    )


class CommentUpdate(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "As a loom weaves flowers and leaves."}]}
    )

    text: CommentText


class CommentCounts(BaseModel):
    replies: int
    reactions: ReactionCountsRead


class CommentRead(BaseModel):
    """A comment or a reply as its viewer sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [COMMENT_EXAMPLE]})

    id: Id
    post_id: Id
    parent_id: Id | None
    author: AuthorRead
    text: str
    created_at: datetime
    edited_at: datetime | None
    counts: CommentCounts
    viewer_reaction: ReactionType | None


class ReactionPut(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "love"}]})

    type: ReactionType


class ReactionRead(BaseModel):
    """The viewer's reaction after `PUT .../reaction`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "love"}]})

    type: ReactionType


class ReactorRead(BaseModel):
    user: UserRead
    type: ReactionType
    created_at: datetime


class ReactionsPage(BaseModel):
    """`GET .../reactions`: the totals per type, and who reacted, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counts": COUNTS_EXAMPLE,
                    "items": [
                        {"user": USER_EXAMPLE, "type": "love", "created_at": "2026-01-04T12:10:00Z"}
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    counts: ReactionCountsRead
    items: list[ReactorRead]
    next_cursor: str | None
