"""HTTP routes of the media service (mounted under /api/v1 by `minifb.api`).

`POST /media` reads its multipart body itself rather than through FastAPI's form
parsing, so that an upload over the limit is refused by its Content-Length
before a byte is read, or as soon as the stream passes the limit.
"""

from __future__ import annotations

import mimetypes
import time
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.types import Message

from minifb.adapters.storage import LocalStorage, StoredObjectMissing
from minifb.kit.deps import CacheDep, PortsDep, SessionDep
from minifb.kit.errors import InvalidInput, NotFound, Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.schemas import Id
from minifb.kit.security import CurrentUser
from minifb.media import service as media
from minifb.media.exceptions import (
    MediaNotFound,
    MediaTooLarge,
    UnsupportedMedia,
    UploadNotReceived,
)
from minifb.media.schemas import (
    DESCRIPTION,
    DESCRIPTION_MAX,
    MediaRead,
    MediaUpdate,
    UploadCreate,
    UploadOffer,
)

router = APIRouter(tags=["media"], responses=problems(503))
files_router = APIRouter(tags=["media"], responses=problems(503))

# Room for the multipart envelope and a description around the file itself.
ENVELOPE_BYTES = 16 * 1024


class MediaPorts(Protocol):
    """What the media endpoints read of the container (`bootstrap.Container` provides it)."""

    @property
    def media(self) -> media.MediaStore: ...


async def get_store(request: Request) -> media.MediaStore:
    ports: MediaPorts = request.app.state.container
    return ports.media


StoreDep = Annotated[media.MediaStore, Depends(get_store)]
MediaIdPath = Annotated[Id, Path(description="A media's id.")]

_HIDDEN = (MediaNotFound, "No such media, or one you may not see.")
_UPLOAD_PROBLEMS = problems(
    Unauthorized,
    (MediaTooLarge, "Over the size limit (10 MiB by default), or over 33 megapixels."),
    (UnsupportedMedia, "Not a JPEG, PNG, GIF or WebP image, damaged, or animated."),
    (429, "Over 30 uploads in 30 minutes; try again after `Retry-After` seconds."),
    422,
)

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
                },
            },
            "example": {"file": "(the image's bytes)", "description": "A red square"},
        }
    },
}


def _invalid(detail: str, field: str) -> InvalidInput:
    return InvalidInput(
        detail, errors=[{"loc": ["body", field], "msg": detail, "type": "value_error"}]
    )


async def _read_upload(request: Request, max_bytes: int) -> tuple[bytes, str | None]:
    """The file and description of a multipart upload, reading no more than the limit."""
    limit = max_bytes + ENVELOPE_BYTES
    too_large = MediaTooLarge(f"The upload is larger than the {max_bytes} bytes allowed.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _invalid("Send the image as multipart/form-data, in the field `file`.", "file")
    received = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large
        return message

    try:
        form = await Request(request.scope, counted).form(max_files=1, max_fields=1)
    except (MediaTooLarge, InvalidInput):
        raise
    except Exception as exc:  # a malformed multipart body
        raise _invalid("The multipart body is not valid.", "file") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise _invalid("The image goes in the field `file`.", "file")
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise too_large
        description = form.get("description")
        if description is None:
            return data, None
        if not isinstance(description, str):
            raise _invalid("The description is text.", "description")
        try:
            checked = DESCRIPTION.validate_python(description)
        except ValidationError:
            raise _invalid(
                f"At most {DESCRIPTION_MAX} characters, and no NUL or lone surrogates.",
                "description",
            ) from None
        return data, checked or None
    finally:
        await form.close()


@router.post(
    "/media",
    status_code=status.HTTP_201_CREATED,
    response_model=MediaRead,
    summary="Upload an image",
    response_description="The stored image, with its URLs.",
    responses=_UPLOAD_PROBLEMS,
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload_media(
    request: Request, principal: CurrentUser, ports: PortsDep, store: StoreDep
) -> MediaRead:
    """A JPEG, PNG, GIF or WebP image (judged by its content, never its name or type) in
    the multipart field `file`, with optional alt text in `description`. It is turned
    upright and re-encoded without its metadata (EXIF and GPS go), in two renditions.
    Animated images are refused. Yours alone until you attach it to a post or message."""
    data, description = await _read_upload(request, store.policy.max_bytes)
    return await media.upload(ports.db, ports.cache, store, principal.user_id, data, description)


@router.post(
    "/media/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOffer,
    summary="Start a direct upload",
    response_description="Where to send the bytes, and the media they will become.",
    responses=problems(Unauthorized, (MediaTooLarge, "The size is over the limit."), 429),
)
async def start_upload(
    body: UploadCreate,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    store: StoreDep,
) -> UploadOffer:
    """A presigned upload straight to the storage (S3: a POST form limited to the size and
    type given; local disk: a signed PUT to this app). Then `POST /media/{id}/complete`."""
    if body.size > store.policy.max_bytes:
        raise MediaTooLarge(
            f"The upload is larger than the {store.policy.max_bytes} bytes allowed."
        )
    return await media.offer_upload(session, cache, store, principal.user_id, body)


@router.post(
    "/media/{media_id}/complete",
    response_model=MediaRead,
    summary="Finish a direct upload",
    response_description="The stored image, with its URLs.",
    responses=problems(
        Unauthorized,
        _HIDDEN,
        (MediaTooLarge, "Over the size or pixel limit."),
        (UnsupportedMedia, "Not a JPEG, PNG, GIF or WebP image, damaged, or animated."),
        (UploadNotReceived, "Nothing was uploaded yet."),
    ),
)
async def complete_upload(
    media_id: MediaIdPath, principal: CurrentUser, session: SessionDep, store: StoreDep
) -> MediaRead:
    """Check and process what was uploaded directly, exactly as `POST /media` does."""
    return await media.complete_upload(session, store, principal.user_id, media_id)


@router.get(
    "/media/{media_id}",
    response_model=MediaRead,
    summary="An image",
    response_description="The image, with fresh URLs.",
    responses=problems(Unauthorized, _HIDDEN),
)
async def get_media(
    media_id: MediaIdPath,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    store: StoreDep,
) -> MediaRead:
    """Your own image, or one on a post you may see or in a conversation you are in."""
    return await media.get_media(session, cache, store, principal.user_id, media_id)


# The answer of a route that sends an image's bytes.
_IMAGE = {"content": {"image/*": {"example": "(the image's bytes)"}}, "description": "The image."}


@files_router.get(
    "/media/{media_id}/avatar",
    response_class=Response,
    summary="A profile picture",
    responses={
        200: _IMAGE,
        **problems((MediaNotFound, "No such media, or no one's profile picture.")),
    },
)
async def read_avatar(
    media_id: MediaIdPath,
    session: SessionDep,
    store: StoreDep,
    size: Annotated[
        Literal["small", "large"], Query(description="320 (small) or 1080 (large) pixels.")
    ] = "small",
) -> Response:
    """Someone's profile picture (the `avatar_url` of a profile): public, no token needed,
    as the profile's name is. A stable URL, so cached profiles and posts never hold an
    expired one; cached by browsers for five minutes."""
    data, content_type = await media.avatar_image(session, store, media_id, small=size == "small")
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": "public, max-age=300",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.patch(
    "/media/{media_id}",
    response_model=MediaRead,
    summary="Change an image's alt text",
    response_description="The image.",
    responses=problems(Unauthorized, _HIDDEN, media.NotYourMedia, 422),
)
async def update_media(
    media_id: MediaIdPath,
    body: MediaUpdate,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    store: StoreDep,
) -> MediaRead:
    """Set or clear (null) the description of your own image."""
    return await media.update_description(
        session, cache, store, principal.user_id, media_id, body.description
    )


@router.delete(
    "/media/{media_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an image",
    response_description="Deleted.",
    responses=problems(Unauthorized, _HIDDEN, media.NotYourMedia),
)
async def delete_media(
    media_id: MediaIdPath,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    store: StoreDep,
) -> Response:
    """Delete your own image and its files, from wherever it was attached too."""
    await media.delete_media(session, cache, store, principal.user_id, media_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Local-disk storage: the files themselves, behind their signed URLs ----------------

Expires = Annotated[
    int, Query(ge=0, description="When the URL stops working (Unix time); without it, 404.")
]
FilePart = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")]
Signature = Annotated[
    str, Query(pattern="^(?:[0-9a-f]{64})?$", description="The URL's HMAC signature.")
]
_NOT_SERVED = (404, "No such file, a URL that expired or was altered, or S3 storage.")


def _local(store: media.MediaStore) -> LocalStorage:
    if not isinstance(store.storage, LocalStorage):
        raise NotFound("Files are served by the storage itself.")
    return store.storage


@files_router.get(
    "/media/files/m/{media_id}/{token}/{name}",
    summary="A stored file (local storage)",
    response_class=Response,
    responses={
        200: _IMAGE,
        **problems(_NOT_SERVED),
    },
)
async def read_file(
    media_id: MediaIdPath,
    token: FilePart,
    name: FilePart,
    store: StoreDep,
    expires: Expires = 0,
    signature: Signature = "",
) -> Response:
    """The bytes behind a signed media URL; no token needed, the signature is the grant."""
    local = _local(store)
    key = f"m/{media_id}/{token}/{name}"
    try:
        allowed = local.verify("get", key, expires, signature)
        data = await local.get(key) if allowed else None
    except (ValueError, StoredObjectMissing):
        data = None
    if data is None:
        raise NotFound("No such file.")
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": f"private, max-age={max(0, min(3600, expires - int(time.time())))}",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
        },
    )


@files_router.put(
    "/media/files/m/{media_id}/{token}/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Upload a file directly (local storage)",
    response_description="Stored; now `POST /media/{id}/complete`.",
    responses=problems(_NOT_SERVED, (MediaTooLarge, "Over the size the URL allows.")),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {}, "example": "(the image's bytes)"}
            },
        }
    },
)
async def write_file(
    request: Request,
    media_id: MediaIdPath,
    token: FilePart,
    name: FilePart,
    store: StoreDep,
    expires: Expires = 0,
    signature: Signature = "",
    size: Annotated[int, Query(ge=0, description="The most bytes it takes.")] = 0,
    type_: Annotated[
        str, Query(alias="type", pattern="^(?:image/(?:jpeg|png|gif|webp))?$", description="Type.")
    ] = "",
) -> Response:
    """The bytes of a direct upload, to the URL `POST /media/uploads` gave; at most the
    size it was given for. No token needed, the signature is the grant."""
    local = _local(store)
    key = f"m/{media_id}/{token}/{name}"
    try:
        allowed = local.verify("put", key, expires, signature, str(size), type_)
    except ValueError:
        allowed = False
    if not allowed:
        raise NotFound("No such upload, or its URL expired.")
    too_large = MediaTooLarge(f"The upload is larger than the {size} bytes allowed.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > size:
        raise too_large
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > size:
            raise too_large
        chunks.append(chunk)
    await media.store_direct_upload(store, key, b"".join(chunks), content_type=type_)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
