"""Every query of the media service."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected, among
from minifb.models import Media, MediaStatus, Message, Post, User


async def add(session: AsyncSession, **fields: Any) -> Media:
    media = Media(**fields)
    session.add(media)
    await session.flush()
    return media


async def get(session: AsyncSession, media_id: int, *, lock: bool = False) -> Media | None:
    query = select(Media).where(Media.id == media_id)
    if lock:
        query = query.with_for_update()
    found: Media | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def remove(session: AsyncSession, media_id: int) -> None:
    await session.execute(delete(Media).where(Media.id == media_id))


async def attachable(session: AsyncSession, owner_id: int, media_ids: Sequence[int]) -> list[Media]:
    """Of `media_ids`, the owner's ready media attached to nothing, locked."""
    query = (
        select(Media)
        .where(
            Media.id.in_(media_ids),
            Media.owner_id == owner_id,
            Media.status == MediaStatus.ready,
            Media.post_id.is_(None),
            Media.message_id.is_(None),
        )
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def attach(session: AsyncSession, media_ids: Sequence[int], **where: int | None) -> None:
    for position, media_id in enumerate(media_ids):
        await session.execute(
            update(Media).where(Media.id == media_id).values(position=position, **where)
        )


async def of_posts(session: AsyncSession, post_ids: Collection[int]) -> list[Media]:
    query = select(Media).where(among(session, Media.post_id, post_ids)).order_by(Media.position)
    return list((await session.execute(query)).scalars())


async def of_messages(session: AsyncSession, message_ids: Collection[int]) -> list[Media]:
    attached = among(session, Media.message_id, message_ids)
    query = select(Media).where(attached).order_by(Media.position)
    return list((await session.execute(query)).scalars())


async def stale(session: AsyncSession, before: datetime, limit: int) -> list[Media]:
    """Media no one's profile picture that is attached to nothing and was made before
    `before`, or was attached to a post or message that is gone (nothing can attach
    it again)."""
    avatars = select(User.avatar_media_id).where(User.avatar_media_id.is_not(None))
    loose = and_(Media.created_at < before, Media.post_id.is_(None), Media.message_id.is_(None))
    # The attachment is an id without a foreign key (a post's deletion does not wait for
    # its images): a post or message deleted since leaves it pointing at nothing.
    post_gone = and_(Media.post_id.is_not(None), ~exists().where(Post.id == Media.post_id))
    message_gone = and_(
        Media.message_id.is_not(None), ~exists().where(Message.id == Media.message_id)
    )
    query = (
        select(Media)
        .where(or_(loose, post_gone, message_gone), Media.id.not_in(avatars))
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def remove_many(session: AsyncSession, media_ids: Sequence[int]) -> int:
    result = await session.execute(delete(Media).where(Media.id.in_(media_ids)))
    return affected(result)


async def is_avatar(session: AsyncSession, media_id: int) -> bool:
    """Whether the media is someone's profile picture."""
    query = select(User.id).where(User.avatar_media_id == media_id).limit(1)
    return (await session.execute(query)).first() is not None
