"""The media service's rules: who may upload, see, change and attach an image.

Media is its owner's alone until it is attached: to a post (then whoever may see
the post sees it), to a message (then the conversation's members do), or made a
profile picture (then everyone does). Anyone else gets 404, as if it did not exist.
Posts, messages and users attach media and read it only through this module.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.storage import Storage, StoredObjectMissing
from minifb.kit import ids
from minifb.kit.db import Database
from minifb.kit.errors import Forbidden, TooManyRequests
from minifb.media import images
from minifb.media import repository as repo
from minifb.media.exceptions import (
    MediaNotAttachable,
    MediaNotFound,
    MediaTooLarge,
    UnsupportedMedia,
    UploadNotReceived,
)
from minifb.media.images import ImagePool, Processed
from minifb.media.schemas import MediaCard, MediaRead, UploadCreate, UploadOffer
from minifb.messages import service as messages
from minifb.models import Media, MediaStatus
from minifb.posts import service as posts
from minifb.posts.exceptions import PostNotFound

ATTACH_LIMIT = 10
"""At most this many images on one post or one message."""
STALE_AFTER = timedelta(hours=24)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 33_000_000
    url_ttl: int = 3600
    uploads: int = 30
    """Uploads (direct or offered) one person may start per `upload_window` seconds."""
    upload_window: int = 30 * 60


@dataclass(frozen=True, slots=True)
class MediaStore:
    """What the media service works with: the storage, the image pool and its limits."""

    storage: Storage
    images: ImagePool
    policy: MediaPolicy


class NotYourMedia(Forbidden):
    """Only the person who uploaded an image may change or delete it."""

    code = "not-your-media"

    def __init__(self) -> None:
        super().__init__("Only its owner may change or delete this image.")


def _rendition(media: Media, side: int) -> str:
    return f"{media.key}/{side}.{_EXTENSIONS[media.content_type]}"


def _upload_key(media: Media) -> str:
    return f"{media.key}/upload"


async def _read(store: MediaStore, media: Media) -> MediaRead:
    ready = media.status == MediaStatus.ready
    ttl = store.policy.url_ttl
    return MediaRead(
        id=media.id,
        type=media.content_type,
        width=media.width,
        height=media.height,
        size=media.size,
        blurhash=media.blurhash,
        url=await store.storage.url(_rendition(media, images.LARGE), ttl=ttl) if ready else None,
        thumbnail_url=(
            await store.storage.url(_rendition(media, images.SMALL), ttl=ttl) if ready else None
        ),
        description=media.description,
    )


async def _count_upload(cache: Cache, policy: MediaPolicy, owner_id: int) -> None:
    count, seconds_left = await cache.incr(
        f"throttle:media:upload:{owner_id}", ttl=policy.upload_window
    )
    if count > policy.uploads:
        raise TooManyRequests(
            f"At most {policy.uploads} uploads per {policy.upload_window // 60} minutes; "
            "try again later.",
            retry_after=math.ceil(seconds_left),
        )


async def _put_renditions(store: MediaStore, media: Media, processed: Processed) -> None:
    for side, rendition in ((images.LARGE, processed.large), (images.SMALL, processed.small)):
        await store.storage.put(
            _rendition(media, side), rendition.data, content_type=processed.content_type
        )


def _describe(media: Media, processed: Processed) -> None:
    """The media is ready: its stored renditions' type, sizes and placeholder."""
    media.content_type = processed.content_type
    media.width, media.height = processed.large.width, processed.large.height
    media.thumb_width, media.thumb_height = processed.small.width, processed.small.height
    media.size = len(processed.large.data)
    media.blurhash = processed.blurhash
    media.status = MediaStatus.ready


def _new_key(media_id: int) -> str:
    # The server's choice: the id, and a secret part nobody can guess from the id.
    return f"m/{media_id}/{secrets.token_hex(8)}"


async def _add_pending(
    session: AsyncSession, owner_id: int, content_type: str, description: str | None
) -> Media:
    """A new media's row, pending until its renditions are stored."""
    media_id = ids.new_id()
    return await repo.add(
        session,
        id=media_id,
        owner_id=owner_id,
        key=_new_key(media_id),
        status=MediaStatus.pending,
        content_type=content_type,
        description=description,
    )


async def upload(
    db: Database,
    cache: Cache,
    store: MediaStore,
    owner_id: int,
    data: bytes,
    description: str | None,
) -> MediaRead:
    """Check, clean and store an uploaded image (`images.process`, off the event loop).

    Its row is committed as pending before any file is stored, and made ready in a
    second transaction: whatever fails after the files went in (the database, the
    process), a row names them, and housekeeping removes both a day later.
    """
    await _count_upload(cache, store.policy, owner_id)
    processed = await store.images.run(images.process, data, store.policy.max_pixels)
    async with db.transaction() as session:
        pending = await _add_pending(session, owner_id, processed.content_type, description)
    await _put_renditions(store, pending, processed)
    async with db.transaction() as session:
        media = await repo.get(session, pending.id, lock=True)
        if media is None:  # pragma: no cover - nobody knows its id yet to remove it
            raise MediaNotFound()
        _describe(media, processed)
    return await _read(store, media)


async def offer_upload(
    session: AsyncSession, cache: Cache, store: MediaStore, owner_id: int, body: UploadCreate
) -> UploadOffer:
    """A pending media and a presigned direct upload of at most the declared size."""
    await _count_upload(cache, store.policy, owner_id)
    media = await _add_pending(session, owner_id, body.content_type, body.description)
    ttl = min(store.policy.url_ttl, 3600)
    upload = await store.storage.presigned_upload(
        _upload_key(media), content_type=body.content_type, max_bytes=body.size, ttl=ttl
    )
    return UploadOffer.model_validate(
        {
            "media_id": media.id,
            "upload": {
                "method": upload.method,
                "url": upload.url,
                "fields": upload.fields,
                "headers": upload.headers,
            },
            "expires_in": ttl,
        }
    )


async def complete_upload(
    session: AsyncSession, store: MediaStore, owner_id: int, media_id: int
) -> MediaRead:
    """Check and process what was uploaded directly, as `upload` does; the upload goes."""
    media = await repo.get(session, media_id, lock=True)
    if media is None or media.owner_id != owner_id:
        raise MediaNotFound()
    if media.status == MediaStatus.ready:
        return await _read(store, media)
    try:
        data = await store.storage.get(_upload_key(media))
    except StoredObjectMissing:
        raise UploadNotReceived() from None
    try:
        if len(data) > store.policy.max_bytes:
            raise MediaTooLarge(f"The upload is over {store.policy.max_bytes} bytes.")
        processed = await store.images.run(images.process, data, store.policy.max_pixels)
    except (MediaTooLarge, UnsupportedMedia):
        # A refused upload is gone; its pending media goes with housekeeping.
        await store.storage.delete(_upload_key(media))
        raise
    await _put_renditions(store, media, processed)
    _describe(media, processed)
    await store.storage.delete(_upload_key(media))
    return await _read(store, media)


async def store_direct_upload(
    store: MediaStore, key: str, data: bytes, *, content_type: str
) -> None:
    """Keep the bytes of a local direct upload (its signed URL already checked)."""
    await store.storage.put(key, data, content_type=content_type)


async def _may_see(session: AsyncSession, cache: Cache, viewer_id: int, media: Media) -> bool:
    if media.owner_id == viewer_id:
        return True
    if media.status != MediaStatus.ready:
        return False
    if await repo.is_avatar(session, media.id):
        return True  # a profile picture is public, like the profile's name
    if media.post_id is not None:
        try:
            await posts.get_post(session, cache, viewer_id, media.post_id)
        except PostNotFound:
            return False
        return True
    if media.conversation_id is not None:
        return (
            await messages.members_if_member(session, media.conversation_id, viewer_id) is not None
        )
    return False


async def _visible(
    session: AsyncSession, cache: Cache, viewer_id: int, media_id: int, *, lock: bool = False
) -> Media:
    media = await repo.get(session, media_id, lock=lock)
    if media is None or not await _may_see(session, cache, viewer_id, media):
        raise MediaNotFound()
    return media


async def get_media(
    session: AsyncSession, cache: Cache, store: MediaStore, viewer_id: int, media_id: int
) -> MediaRead:
    return await _read(store, await _visible(session, cache, viewer_id, media_id))


async def _owned(session: AsyncSession, cache: Cache, viewer_id: int, media_id: int) -> Media:
    media = await _visible(session, cache, viewer_id, media_id, lock=True)
    if media.owner_id != viewer_id:
        raise NotYourMedia()
    return media


async def update_description(
    session: AsyncSession,
    cache: Cache,
    store: MediaStore,
    viewer_id: int,
    media_id: int,
    description: str | None,
) -> MediaRead:
    media = await _owned(session, cache, viewer_id, media_id)
    media.description = description
    if media.post_id is not None:
        posts.forget_rendering(session, cache, media.post_id)
    return await _read(store, media)


async def delete_media(
    session: AsyncSession, cache: Cache, store: MediaStore, viewer_id: int, media_id: int
) -> None:
    """Delete one's own image, and its files (from the post or message it was on too)."""
    media = await _owned(session, cache, viewer_id, media_id)
    await repo.remove(session, media.id)
    if media.post_id is not None:
        posts.forget_rendering(session, cache, media.post_id)
    await store.storage.delete(
        _rendition(media, images.LARGE), _rendition(media, images.SMALL), _upload_key(media)
    )


# What other services use ------------------------------------------------------------

AVATAR_PATH = "/api/v1/media/{id}/avatar"
"""The stable, public URL of a profile picture (`users.avatar_url`), served by the app,
so a cached profile or post never holds an expired URL."""


async def avatar_url(session: AsyncSession, owner_id: int, media_id: int) -> str:
    """The `avatar_url` of the owner's own ready media; anything else is refused."""
    media = await repo.get(session, media_id)
    if media is None or media.owner_id != owner_id or media.status != MediaStatus.ready:
        raise MediaNotAttachable(["body", "avatar_media_id"])
    return AVATAR_PATH.format(id=media_id)


async def avatar_image(
    session: AsyncSession, store: MediaStore, media_id: int, *, small: bool
) -> tuple[bytes, str]:
    """A profile picture's bytes and type; 404 for media that is no one's avatar."""
    media = await repo.get(session, media_id)
    if (
        media is None
        or media.status != MediaStatus.ready
        or not await repo.is_avatar(session, media_id)
    ):
        raise MediaNotFound()
    side = images.SMALL if small else images.LARGE
    try:
        return await store.storage.get(_rendition(media, side)), media.content_type
    except StoredObjectMissing:
        raise MediaNotFound() from None


async def attach(
    session: AsyncSession,
    owner_id: int,
    media_ids: Sequence[int],
    *,
    post_id: int | None = None,
    message_id: int | None = None,
    conversation_id: int | None = None,
) -> list[MediaCard]:
    """Attach the owner's own, ready, unattached media, in the order given; anything
    else (another's, missing, pending, attached elsewhere, a repeat) is refused."""
    if not media_ids:
        return []
    if len(media_ids) > ATTACH_LIMIT or len(set(media_ids)) != len(media_ids):
        raise MediaNotAttachable()
    found = await repo.attachable(session, owner_id, media_ids)
    if len(found) != len(media_ids):
        raise MediaNotAttachable()
    await repo.attach(
        session,
        media_ids,
        post_id=post_id,
        message_id=message_id,
        conversation_id=conversation_id,
    )
    by_id = {media.id: media for media in found}
    return [card(by_id[media_id]) for media_id in media_ids]


def card(media: Media) -> MediaCard:
    return MediaCard(
        id=media.id,
        type=media.content_type,
        width=media.width,
        height=media.height,
        blurhash=media.blurhash,
        description=media.description,
    )


async def cards_of_posts(
    session: AsyncSession, post_ids: Collection[int]
) -> dict[int, list[MediaCard]]:
    """The media of each post, in order (one query; the caller decides who sees them)."""
    found: dict[int, list[MediaCard]] = {}
    if post_ids:
        for media in await repo.of_posts(session, post_ids):
            assert media.post_id is not None
            found.setdefault(media.post_id, []).append(card(media))
    return found


async def cards_of_messages(
    session: AsyncSession, message_ids: Collection[int]
) -> dict[int, list[MediaCard]]:
    """The media of each message, in order (one query; the caller checked membership)."""
    found: dict[int, list[MediaCard]] = {}
    if message_ids:
        for media in await repo.of_messages(session, message_ids):
            assert media.message_id is not None
            found.setdefault(media.message_id, []).append(card(media))
    return found


async def remove_stale(db: Database, store: MediaStore, now: datetime, *, batch: int = 500) -> int:
    """Housekeeping: media attached to nothing (and no one's profile picture) a day
    after it was made, its rows and its files."""
    removed = 0
    while True:
        async with db.transaction() as session:
            stale = await repo.stale(session, now - STALE_AFTER, batch)
            if not stale:
                return removed
            keys = [
                key
                for media in stale
                for key in (
                    _rendition(media, images.LARGE),
                    _rendition(media, images.SMALL),
                    _upload_key(media),
                )
            ]
            await store.storage.delete(*keys)
            removed += await repo.remove_many(session, [m.id for m in stale])
        if len(stale) < batch:
            return removed
