"""Errors of the media service."""

from __future__ import annotations

from typing import Any

from minifb.kit.errors import AppError, InvalidInput, NotFound, PayloadTooLarge


class MediaNotFound(NotFound):
    """No such media, or one you may not see: the two are indistinguishable."""

    code = "media-not-found"

    def __init__(self) -> None:
        super().__init__("No such media.")


class UnsupportedMedia(AppError):
    """The content is not a JPEG, PNG, GIF or WebP image (judged by decoding it, never
    by its name or declared type), is damaged, or is animated."""

    status, code = 415, "unsupported-media-type"

    def __init__(self, detail: str = "Only JPEG, PNG, GIF and WebP images are taken.") -> None:
        super().__init__(detail)


class MediaTooLarge(PayloadTooLarge):
    """The upload is over the size limit, or the image over the pixel limit."""

    code = "media-too-large"

    def __init__(self, detail: str = "The image is larger than allowed.") -> None:
        super().__init__(detail)


def _invalid(detail: str, loc: list[str]) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": detail, "type": "value_error"}]


class MediaNotAttachable(InvalidInput):
    """A `media_ids` entry is not your own media ready to attach (someone else's, one
    that does not exist, one still being uploaded, or one attached elsewhere)."""

    def __init__(self, loc: list[str] | None = None) -> None:
        detail = "Each media id must be your own upload, not attached to anything yet."
        super().__init__(detail, errors=_invalid(detail, loc or ["body", "media_ids"]))


class UploadNotReceived(InvalidInput):
    """`POST /media/{id}/complete` before the direct upload arrived in the storage."""

    def __init__(self) -> None:
        detail = "Nothing was uploaded for this media yet."
        super().__init__(detail, errors=_invalid(detail, ["path", "media_id"]))
