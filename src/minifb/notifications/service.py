"""Notifications: making them (from the consumer in `handlers.py`), reading and marking them.

Each notification made, and each reaction group that grows, writes a
`notification.created` event in the same transaction, `{user_id,
notification}` with the notification as the API shows it, which the stream
pushes to its person's sockets.

Reaction groups: while a post's `post_reaction` notification is unread, a new
reactor joins it (and it comes back to the top of the list) instead of
making another; someone already in it, reacting again or changing their
reaction, changes nothing. Once it is read, the next reaction starts a new
group: what was read stays as it was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import utcnow
from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.models import NotificationType
from minifb.notifications import repository as repo
from minifb.notifications.exceptions import NotificationNotFound, PresenceHidden
from minifb.notifications.presence import Presence
from minifb.notifications.repository import NotificationRow
from minifb.notifications.schemas import ActorRead, NotificationRead, PresenceRead, UnreadCount
from minifb.users import service as users

_WHAT = {
    NotificationType.friend_request: "sent you a friend request.",
    NotificationType.friend_accepted: "accepted your friend request.",
    NotificationType.post_comment: "commented on your post.",
    NotificationType.comment_reply: "replied to your comment.",
    NotificationType.post_reaction: "reacted to your post.",
}


def describe(row: NotificationRow) -> str:
    """What happened, in words: "Ana Lima and 3 others reacted to your post."."""
    who = row.display_name
    others = row.actor_count - 1
    if others > 0:
        who += f" and {others} {'other' if others == 1 else 'others'}"
    if row.type is NotificationType.mention:
        return f"{who} mentioned you in a {'post' if row.comment_id is None else 'comment'}."
    return f"{who} {_WHAT[row.type]}"


def read(row: NotificationRow) -> NotificationRead:
    """A notification as its person sees it."""
    return NotificationRead(
        id=row.id,
        type=row.type,
        actor=ActorRead(
            id=row.actor_id,
            username=row.username,
            display_name=row.display_name,
            avatar_url=row.avatar_url,
        ),
        actor_count=row.actor_count,
        text=describe(row),
        post_id=row.post_id,
        comment_id=row.comment_id,
        read=row.read_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _announce(session: AsyncSession, user_id: int, notification_id: int) -> None:
    """Write the `notification.created` event of a notification made or grown."""
    row = await repo.get_row(session, notification_id)
    if row is None:  # cannot be: written in this transaction
        return
    record_event(
        session,
        "notification.created",
        actor_id=row.actor_id,
        data={
            "user_id": str(user_id),
            "notification": read(row).model_dump(mode="json"),
        },
    )


async def notify(
    session: AsyncSession,
    user_id: int,
    type_: NotificationType,
    *,
    actor_id: int,
    post_id: int | None = None,
    comment_id: int | None = None,
) -> int | None:
    """Make a notification for `user_id` (a reaction joins the post's unread group);
    returns its id, or None when nothing changed. Whether it should be made at all
    (not one's own act, no block, not muted) is the caller's to decide."""
    now = utcnow()
    if type_ is NotificationType.post_reaction and post_id is not None:
        notification_id = await _join_group(session, user_id, post_id, actor_id=actor_id)
    else:
        notification_id = new_id()
        row = _row(notification_id, user_id, type_, actor_id, now)
        await repo.insert(session, {**row, "post_id": post_id, "comment_id": comment_id})
    if notification_id is not None:
        await _announce(session, user_id, notification_id)
    return notification_id


def _row(
    notification_id: int, user_id: int, type_: NotificationType, actor_id: int, now: datetime
) -> dict[str, Any]:
    return {
        "id": notification_id,
        "user_id": user_id,
        "type": type_,
        "actor_id": actor_id,
        "actor_count": 1,
        "position": notification_id,
        "created_at": now,
        "updated_at": now,
    }


async def _join_group(
    session: AsyncSession, user_id: int, post_id: int, *, actor_id: int
) -> int | None:
    """Add a reactor to the post's unread group, making it if there is none; the group's
    id if it changed, None if they were in it already."""
    for _ in range(2):
        group = await repo.unread_group(session, user_id, post_id)
        if group is not None:
            if not await repo.add_actor(session, group, actor_id):
                return None
            await repo.grow_group(
                session, group, actor_id=actor_id, position=new_id(), now=utcnow()
            )
            return group
        notification_id = new_id()
        row = _row(notification_id, user_id, NotificationType.post_reaction, actor_id, utcnow())
        if await repo.insert(session, {**row, "post_id": post_id}):
            await repo.add_actor(session, notification_id, actor_id)
            return notification_id
        # Another process made the group in between: join it instead.
    return None


async def list_notifications(
    session: AsyncSession, user_id: int, params: PageParams, *, unread_only: bool = False
) -> Page[NotificationRead]:
    """A person's notifications, newest (or newest grown) first."""
    rows = await repo.page(
        session, user_id, unread_only=unread_only, before=params.after, limit=params.limit
    )
    items, cursor = page_of(rows, params, key=lambda row: row.position)
    return Page(items=[read(row) for row in items], next_cursor=cursor)


async def unread_count(session: AsyncSession, user_id: int) -> UnreadCount:
    """How many of a person's notifications are unread."""
    return UnreadCount(count=await repo.unread_count(session, user_id))


async def mark_all_read(
    session: AsyncSession, user_id: int, *, up_to_id: int | None = None
) -> UnreadCount:
    """Mark every notification read, or those listed at or below `up_to_id` (one of the
    person's own, else `NotificationNotFound`); returns the unread count left."""
    up_to = None
    if up_to_id is not None:
        up_to = await repo.own_position(session, user_id, up_to_id)
        if up_to is None:
            raise NotificationNotFound()
    await repo.mark_read(session, user_id, utcnow(), up_to=up_to)
    return await unread_count(session, user_id)


async def mark_one_read(
    session: AsyncSession, user_id: int, notification_id: int
) -> NotificationRead:
    """Mark one of the person's notifications read (idempotent); someone else's, or one
    that does not exist, is `NotificationNotFound`."""
    if await repo.own_position(session, user_id, notification_id) is None:
        raise NotificationNotFound()
    await repo.mark_read(session, user_id, utcnow(), notification_id=notification_id)
    row = await repo.get_row(session, notification_id)
    if row is None:
        raise NotificationNotFound()
    return read(row)


async def friends_presence(
    session: AsyncSession,
    presence: Presence,
    viewer_id: int,
    params: PageParams,
    *,
    online_only: bool = False,
) -> Page[PresenceRead]:
    """The presence of the viewer's friends who show theirs, highest id first; refused
    (403) while the viewer's own active status is off."""
    limit = None if online_only else params.limit
    rows = await users.friends_presence(session, viewer_id, after=params.after, limit=limit)
    if rows is None:
        raise PresenceHidden()
    ids = [user_id for user_id, _ in rows]
    states = await presence.states(ids, limit=params.limit + 1 if online_only else None)
    items: list[PresenceRead] = []
    for user_id, stored in rows:
        state = states.get(user_id)
        if state is None:  # not read: enough were found online before it
            break
        if state.online:
            items.append(PresenceRead(user_id=user_id, online=True, last_active_at=None))
        elif not online_only:
            # A process that died never recorded the close: its last renewal says more.
            seen = [at for at in (stored, state.last_renewed) if at is not None]
            items.append(
                PresenceRead(user_id=user_id, online=False, last_active_at=max(seen, default=None))
            )
    page, cursor = page_of(items, params, key=lambda item: item.user_id)
    return Page(items=page, next_cursor=cursor)
