"""Request and response bodies of the messages service (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from minifb.kit.schemas import BodyId, Id, Schema, Text, media_list, trimmed_text_pattern
from minifb.media.schemas import MediaCard
from minifb.models.conversation import ConversationKind

MESSAGE_TEXT_MAX = 5000
TITLE_MAX = 100
GROUP_MAX = 50  # members, the creator included
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
NUL = r"\x00"


def _trimmed(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"at most {limit} characters")
        return value

    return AfterValidator(check)


def _distinct(value: list[int]) -> list[int]:
    if len(set(value)) != len(value):
        raise ValueError("each person at most once")
    return value


MessageText = Annotated[
    Text,
    # The raw length is bounded too, so a huge body of spaces is refused before trimming.
    Field(
        max_length=2 * MESSAGE_TEXT_MAX,
        description=f"1 to {MESSAGE_TEXT_MAX} characters once trimmed of surrounding whitespace.",
        json_schema_extra={"pattern": trimmed_text_pattern(NUL, MESSAGE_TEXT_MAX)},
    ),
    _trimmed(MESSAGE_TEXT_MAX),
]
Title = Annotated[
    Text,
    Field(
        max_length=2 * TITLE_MAX,
        description=f"1 to {TITLE_MAX} characters once trimmed of surrounding whitespace.",
        json_schema_extra={"pattern": trimmed_text_pattern(NUL, TITLE_MAX)},
    ),
    _trimmed(TITLE_MAX),
]
People = Annotated[
    list[BodyId],
    Field(min_length=1, max_length=GROUP_MAX - 1, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct),
]

MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "170412345678933333",
    "conversation_id": "170412345678944444",
    "sender_id": "170412345678901234",
    "text": "Shall we meet at the Analytical Society?",
    "media": [],
    "client_message_id": "3f0c9c1e-6d1b-4c61-9a55-1f1f6a3a2b7c",
    "created_at": "2026-01-04T12:00:00Z",
}
CARD_EXAMPLE: dict[str, Any] = {
    "id": "170412345678901234",
    "username": "ada",
    "display_name": "Ada Lovelace",
    "avatar_url": None,
}
CONVERSATION_EXAMPLE: dict[str, Any] = {
    "id": "170412345678944444",
    "kind": "direct",
    "title": None,
    "created_at": "2026-01-04T11:00:00Z",
    "members": [
        {"user": CARD_EXAMPLE, "last_read_message_id": "170412345678933333"},
        {
            "user": {
                **CARD_EXAMPLE,
                "id": "170412345678905678",
                "username": "charles",
                "display_name": "Charles Babbage",
            },
            "last_read_message_id": None,
        },
    ],
    "last_message": MESSAGE_EXAMPLE,
    "unread_count": 0,
}


class ConversationCreate(Schema):
    """`POST /conversations`: one other person makes a direct conversation (reused if
    the two already have one); 2 to 49 others make a group, which may have a title."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"participant_ids": ["170412345678905678"]},
                {
                    "participant_ids": ["170412345678905678", "170412345678907777"],
                    "title": "Engine club",
                },
            ]
        }
    )

    participant_ids: People = Field(
        description="The other people (not yourself): one for a direct conversation, "
        f"2 to {GROUP_MAX - 1} for a group."
    )
    title: Title | None = Field(None, description="A group's title; a direct one has none.")


class MembersAdd(Schema):
    """`POST /conversations/{id}/members`: people to add to a group."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_ids": ["170412345678907777"]}]}
    )

    user_ids: People = Field(description="The people to add; members already are skipped.")


class MessageCreate(Schema):
    """`POST /conversations/{id}/messages`. `media_ids` attach your own uploads; a
    resend with the same `client_message_id` answers the first message."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "Shall we meet at the Analytical Society?",
                    "client_message_id": "3f0c9c1e-6d1b-4c61-9a55-1f1f6a3a2b7c",
                }
            ]
        }
    )

    text: MessageText
    media_ids: Annotated[
        list[BodyId],
        AfterValidator(media_list),
        Field(
            description="Your own uploads (`POST /media`), not attached to anything yet, "
            "in the order shown; at most 10.",
            json_schema_extra={"maxItems": 10, "uniqueItems": True},
        ),
    ] = []
    client_message_id: (
        Annotated[
            Text,
            Field(
                pattern=CLIENT_ID_PATTERN,
                # Stated again for the document: `Text`'s validator hides `pattern` from it.
                json_schema_extra={"pattern": CLIENT_ID_PATTERN},
                description="Your own id of this message (1 to 64 letters, digits, `.`, `_`, "
                "`:` or `-`, e.g. a UUID), unique among your messages in this conversation: a "
                "resend with it answers the first message instead of sending it twice.",
            ),
        ]
        | None
    ) = None


class ReadCreate(Schema):
    """`POST /conversations/{id}/read`: you have read up to this message."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message_id": "170412345678933333"}]}
    )

    message_id: BodyId = Field(description="A message of this conversation.")


class MessageRead(BaseModel):
    """A message, the same for every member (and in its `message.created` event)."""

    model_config = ConfigDict(json_schema_extra={"examples": [MESSAGE_EXAMPLE]})

    id: Id
    conversation_id: Id
    sender_id: Id
    text: str
    media: list[MediaCard] = Field(description="Its images; their URLs from `GET /media/{id}`.")
    client_message_id: str | None
    created_at: datetime


class MemberCard(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CARD_EXAMPLE]})

    id: Id
    username: str
    display_name: str
    avatar_url: str | None


class MemberRead(BaseModel):
    user: MemberCard
    last_read_message_id: Id | None = Field(
        description="The last message this member has read; null before their first read."
    )


class ConversationRead(BaseModel):
    """A conversation as one of its members sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONVERSATION_EXAMPLE]})

    id: Id
    kind: ConversationKind
    title: str | None
    created_at: datetime
    members: list[MemberRead] = Field(description="The current members, oldest first.")
    last_message: MessageRead | None
    unread_count: int = Field(
        description="Messages after your last read one that others wrote.", ge=0
    )
