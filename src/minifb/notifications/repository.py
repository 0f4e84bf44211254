"""Every query of the notifications service.

Lists are ordered by `position` (a time-ordered id, renewed when a group grows)
newest first; they fetch `limit + 1` rows for `kit.pagination.page_of`. What
a person reads leaves out notifications by someone hidden from them (a block
made after the fact), in the same statement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected, among, insert_ignore
from minifb.models import Notification, NotificationActor, NotificationType, User
from minifb.users import service as users


class NotificationRow(NamedTuple):
    """A notification with its (newest) actor's card, as one query returns it."""

    id: int
    type: NotificationType
    actor_id: int
    username: str
    display_name: str
    avatar_url: str | None
    actor_count: int
    post_id: int | None
    comment_id: int | None
    position: int
    read_at: datetime | None
    created_at: datetime
    updated_at: datetime


_ROW = (
    Notification.id,
    Notification.type,
    Notification.actor_id,
    User.username,
    User.display_name,
    User.avatar_url,
    Notification.actor_count,
    Notification.post_id,
    Notification.comment_id,
    Notification.position,
    Notification.read_at,
    Notification.created_at,
    Notification.updated_at,
)


def _readable(user_id: int) -> list[ColumnElement[bool]]:
    """A person's notifications, without those by someone hidden from them."""
    return [
        Notification.user_id == user_id,
        users.not_hidden_from(user_id, Notification.actor_id),
    ]


async def hidden_among(session: AsyncSession, actor_id: int, people: Collection[int]) -> set[int]:
    """Which of `people` are hidden from `actor_id` (a block either way)."""
    if not people:
        return set()
    hidden = users.hidden_from(actor_id).subquery()
    column = hidden.c[0]
    rows = await session.scalars(select(column).where(among(session, column, people)))
    return set(rows)


async def insert(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert a notification; False if it would be a second unread reaction group."""
    return affected(await session.execute(insert_ignore(session, Notification).values(row))) > 0


async def add_actor(session: AsyncSession, notification_id: int, actor_id: int) -> bool:
    """Count a person in a group; False if they were in it already."""
    result = await session.execute(
        insert_ignore(session, NotificationActor).values(
            notification_id=notification_id, actor_id=actor_id
        )
    )
    return affected(result) > 0


async def unread_group(session: AsyncSession, user_id: int, post_id: int) -> int | None:
    """The id of the unread reaction group of a post, locked; None if there is none."""
    query = (
        select(Notification.id)
        .where(
            Notification.user_id == user_id,
            Notification.type == NotificationType.post_reaction,
            Notification.post_id == post_id,
            Notification.read_at.is_(None),
        )
        .with_for_update()
    )
    return await session.scalar(query)


async def grow_group(
    session: AsyncSession, notification_id: int, *, actor_id: int, position: int, now: datetime
) -> None:
    """A new person joined a group: they show as its actor and it comes back on top."""
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(
            actor_id=actor_id,
            actor_count=Notification.actor_count + 1,
            position=position,
            updated_at=now,
        )
    )


async def get_row(session: AsyncSession, notification_id: int) -> NotificationRow | None:
    """One notification with its actor's card."""
    query = (
        select(*_ROW)
        .join(User, User.id == Notification.actor_id)
        .where(Notification.id == notification_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else NotificationRow._make(row)


async def page(
    session: AsyncSession, user_id: int, *, unread_only: bool, before: int | None, limit: int
) -> Sequence[NotificationRow]:
    """A page of a person's notifications, newest first, actors' cards joined."""
    conditions = _readable(user_id)
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    if before is not None:
        conditions.append(Notification.position < before)
    query = (
        select(*_ROW)
        .join(User, User.id == Notification.actor_id)
        .where(*conditions)
        .order_by(Notification.position.desc())
        .limit(limit + 1)
    )
    return [NotificationRow._make(row) for row in await session.execute(query)]


async def unread_count(session: AsyncSession, user_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .where(*_readable(user_id), Notification.read_at.is_(None))
    )
    return int(await session.scalar(query) or 0)


async def own_position(session: AsyncSession, user_id: int, notification_id: int) -> int | None:
    """The list position of one of the person's notifications; None if not theirs."""
    query = select(Notification.position).where(
        Notification.id == notification_id, *_readable(user_id)
    )
    return await session.scalar(query)


async def mark_read(
    session: AsyncSession,
    user_id: int,
    now: datetime,
    *,
    up_to: int | None = None,
    notification_id: int | None = None,
) -> int:
    """Mark unread notifications read: all, those at or below position `up_to`, or one."""
    conditions = [Notification.user_id == user_id, Notification.read_at.is_(None)]
    if up_to is not None:
        conditions.append(Notification.position <= up_to)
    if notification_id is not None:
        conditions.append(Notification.id == notification_id)
    result = await session.execute(update(Notification).where(*conditions).values(read_at=now))
    return affected(result)


async def delete_about_post(session: AsyncSession, post_id: int) -> int:
    """Remove every notification about a post or one of its comments."""
    return affected(
        await session.execute(delete(Notification).where(Notification.post_id == post_id))
    )


async def comment_ids_about(session: AsyncSession, post_id: int) -> set[int]:
    """The comments of a post that some notification is about."""
    query = select(Notification.comment_id).where(
        Notification.post_id == post_id, Notification.comment_id.is_not(None)
    )
    return {comment_id for comment_id in await session.scalars(query) if comment_id is not None}


async def delete_about_comments(session: AsyncSession, comment_ids: Collection[int]) -> int:
    if not comment_ids:
        return 0
    query = delete(Notification).where(among(session, Notification.comment_id, comment_ids))
    return affected(await session.execute(query))
