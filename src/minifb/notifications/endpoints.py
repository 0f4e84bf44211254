"""HTTP routes of the notifications service (mounted under /api/v1 by `minifb.api`).

Every route needs a bearer token and reaches the caller's own notifications
only: someone else's notification id answers exactly as one that does not
exist (404). `GET /presence`, the friends' side of the stream, is here too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from minifb.kit.deps import SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import Id, Page
from minifb.kit.security import CurrentUser
from minifb.notifications import service
from minifb.notifications.exceptions import NotificationNotFound, PresenceHidden
from minifb.notifications.schemas import (
    MARK_READ_EXAMPLES,
    MarkRead,
    NotificationRead,
    PresenceRead,
    UnreadCount,
)
from minifb.notifications.stream import PresenceDep

router = APIRouter(tags=["notifications"], responses=problems(Unauthorized, 503))
presence_router = APIRouter(tags=["presence"], responses=problems(Unauthorized, 503))

NotificationIdPath = Annotated[Id, Path(description="One of your notifications' id.")]
_NOT_YOURS = (NotificationNotFound, "No such notification of yours.")


@router.get(
    "/notifications",
    response_model=Page[NotificationRead],
    summary="Your notifications",
    response_description="A page of your notifications, newest first.",
)
async def list_notifications(
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread_only: Annotated[
        bool, Query(description="Only the notifications you have not read.")
    ] = False,
) -> Page[NotificationRead]:
    """What others did that concerns you, newest first: a reaction group that grew comes
    back to the top."""
    return await service.list_notifications(
        session, principal.user_id, page, unread_only=unread_only
    )


@router.get(
    "/notifications/unread-count",
    response_model=UnreadCount,
    summary="How many notifications are unread",
    response_description="The number of your unread notifications.",
)
async def count_unread_notifications(principal: CurrentUser, session: SessionDep) -> UnreadCount:
    """How many of your notifications you have not read."""
    return await service.unread_count(session, principal.user_id)


@router.post(
    "/notifications/read",
    response_model=UnreadCount,
    summary="Mark notifications read",
    response_description="How many are unread now.",
    responses=problems((NotificationNotFound, "`up_to_id` is no notification of yours.")),
)
async def mark_notifications_read(
    principal: CurrentUser,
    session: SessionDep,
    body: Annotated[MarkRead | None, Body(examples=MARK_READ_EXAMPLES)] = None,
) -> UnreadCount:
    """Mark all your notifications read (no body, or `{}`), or, with `up_to_id`, that one
    and every one listed below it (older, or not grown since)."""
    up_to_id = None if body is None else body.up_to_id
    return await service.mark_all_read(session, principal.user_id, up_to_id=up_to_id)


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationRead,
    summary="Mark one notification read",
    response_description="The notification, read.",
    responses=problems(_NOT_YOURS),
)
async def mark_notification_read(
    notification_id: NotificationIdPath, principal: CurrentUser, session: SessionDep
) -> NotificationRead:
    """Mark one of your notifications read (again is fine)."""
    return await service.mark_one_read(session, principal.user_id, notification_id)


@presence_router.get(
    "/presence",
    response_model=Page[PresenceRead],
    summary="Your friends' presence",
    response_description="A page of your friends who show their active status, highest id first.",
    responses=problems((PresenceHidden, "Your own active status is off.")),
)
async def list_friends_presence(
    principal: CurrentUser,
    session: SessionDep,
    presence: PresenceDep,
    page: PageDep,
    online_only: Annotated[bool, Query(description="Only the friends online now.")] = False,
) -> Page[PresenceRead]:
    """Who of your friends is online now and, for the others, when they were last active.
    Friends who turned their active status off are not listed; while yours is off, you
    see nobody's (403). The stream's `presence` frames tell the changes as they happen."""
    return await service.friends_presence(
        session, presence, principal.user_id, page, online_only=online_only
    )
