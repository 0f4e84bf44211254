"""Request and response bodies of the posts service (DESIGN §3).

Posts are answered as pre-serialised JSON by `rendering.py`; `PostRead` describes
that shape for OpenAPI and is the contract `rendering.py` is tested against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator

from minifb.kit.schemas import Id, ReadSchema, Schema, Text
from minifb.models.post import Visibility
from minifb.models.reaction import ReactionType
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


def _no_media(value: list[int]) -> list[int]:
    if value:
        raise ValueError("media uploads are not available yet")
    return value


# The raw length is bounded too, so a huge body of spaces is refused before trimming.
PostText = Annotated[Text, Field(max_length=2 * POST_TEXT_MAX), _text(POST_TEXT_MAX)]
CommentText = Annotated[Text, Field(max_length=2 * COMMENT_TEXT_MAX), _text(COMMENT_TEXT_MAX)]


class PostCreate(Schema):
    """`POST /posts`. `media_ids` must be empty until the media service exists."""

    text: PostText
    visibility: Visibility = Visibility.public
    media_ids: Annotated[list[Id], AfterValidator(_no_media)] = []


class PostUpdate(Schema):
    """`PATCH /posts/{id}`: only the text and the visibility can change; null is refused."""

    text: PostText | None = None
    visibility: Visibility | None = None

    @field_validator("text", "visibility")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class AuthorRead(ReadSchema):
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

    id: Id
    author: AuthorRead
    text: str
    visibility: Visibility
    media: list[dict[str, str]]
    created_at: datetime
    edited_at: datetime | None
    counts: PostCounts
    viewer_reaction: ReactionType | None


class CommentCreate(Schema):
    """`POST /posts/{id}/comments`; a reply to a reply attaches to the top comment."""

    text: CommentText
    parent_id: Id | None = None


class CommentUpdate(Schema):
    text: CommentText


class CommentCounts(BaseModel):
    replies: int
    reactions: ReactionCountsRead


class CommentRead(BaseModel):
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
    type: ReactionType


class ReactionRead(BaseModel):
    """The viewer's reaction after `PUT .../reaction`."""

    type: ReactionType


class ReactorRead(BaseModel):
    user: UserRead
    type: ReactionType
    created_at: datetime


class ReactionsPage(BaseModel):
    """`GET .../reactions`: the totals per type, and who reacted, newest first."""

    counts: ReactionCountsRead
    items: list[ReactorRead]
    next_cursor: str | None
