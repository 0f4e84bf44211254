"""What the media service takes and answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.config import JsonDict

from minifb.kit.schemas import CONTROL, Id, Schema, Text, no_control

DESCRIPTION_MAX = 1500
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")

Description = Annotated[
    Text,
    Field(
        max_length=DESCRIPTION_MAX,
        description="Alt text: what the image shows; no control characters but newline and tab.",
        json_schema_extra={"pattern": f"^[^{CONTROL}]*$"},
    ),
    AfterValidator(no_control),
]
DESCRIPTION = TypeAdapter(Description)
"""Checks a description that comes in a multipart form, as the JSON bodies do."""

MEDIA_EXAMPLE: JsonDict = {
    "id": "170412345678901234",
    "type": "image/jpeg",
    "width": 1080,
    "height": 720,
    "size": 183204,
    "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
    "url": "/api/v1/media/files/m/170412345678901234/9f3b/1080.jpg?expires=1764163200&signature=…",
    "thumbnail_url": "/api/v1/media/files/m/170412345678901234/9f3b/320.jpg?expires=…",
    "description": "The Difference Engine, front view",
}


class MediaRead(BaseModel):
    """An uploaded image. `url` is its large rendition (at most 1080 pixels on the long
    side), `thumbnail_url` its small one (320); both expire (`MINIFB_MEDIA_URL_TTL`).
    `width`, `height` and `size` are the large rendition's."""

    model_config = ConfigDict(json_schema_extra={"examples": [MEDIA_EXAMPLE]})

    id: Id
    type: str = Field(description="The stored image's content type.")
    width: int
    height: int
    size: int = Field(description="Bytes of the large rendition.")
    blurhash: str | None = Field(description="A placeholder to show while it loads.")
    url: str | None = Field(description="Null until a direct upload is completed.")
    thumbnail_url: str | None
    description: str | None


class MediaUpdate(Schema):
    """`PATCH /media/{id}`: the alt text; null removes it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"description": "A kitten"}]})

    description: Description | None


class UploadCreate(Schema):
    """`POST /media/uploads`: what will be uploaded directly to the storage."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"content_type": "image/jpeg", "size": 2_000_000}]}
    )

    content_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    size: int = Field(ge=1, description="Bytes; at most the upload limit.")
    description: Description | None = None


class DirectUpload(BaseModel):
    """How to send the bytes: a `method` request to `url`; for POST a multipart form of
    `fields` then the file as `file`, for PUT the bytes as the body with `headers`."""

    method: Literal["POST", "PUT"]
    url: str
    fields: dict[str, str]
    headers: dict[str, str]


class UploadOffer(BaseModel):
    """The media made for a direct upload, and where to upload it before `expires_in`
    seconds have passed; then `POST /media/{id}/complete`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "media_id": "170412345678901234",
                    "upload": {
                        "method": "PUT",
                        "url": "/api/v1/media/files/m/170412345678901234/9f3b/upload?expires=…",
                        "fields": {},
                        "headers": {"Content-Type": "image/jpeg"},
                    },
                    "expires_in": 3600,
                }
            ]
        }
    )

    media_id: Id
    upload: DirectUpload
    expires_in: int


class MediaCard(BaseModel):
    """An image as a post or message shows it: what lays it out before it loads. Its
    URLs, which expire, come from `GET /media/{id}` (docs/decisions/0123)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "170412345678901234",
                    "type": "image/jpeg",
                    "width": 1080,
                    "height": 720,
                    "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                    "description": "The Difference Engine, front view",
                }
            ]
        }
    )

    id: Id
    type: str
    width: int
    height: int
    blurhash: str | None
    description: str | None
