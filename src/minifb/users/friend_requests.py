"""Friend requests: sending, listing, accepting, declining and cancelling.

Sending and accepting decide on what lies between two people (a friendship,
a request either way, a block) and may change several rows, so they hold the
pair's lock (`repository.lock_ties`) from before their first read: crossing
requests, two answers and a block in between then run one after the other.
Declining and cancelling are one DELETE of one row, which the database
already makes atomic: of several answers to one request, one gets the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.errors import AppError
from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.models import FriendRequest, FriendRequestPolicy, User
from minifb.users import friends, profiles
from minifb.users import friends_repository as friends_repo
from minifb.users import repository as repo
from minifb.users.exceptions import (
    AlreadyFriends,
    FriendRequestExists,
    FriendRequestNotFound,
    FriendRequestsNotAccepted,
    NotTheAddressee,
    NotTheSender,
    UserNotFound,
)
from minifb.users.schemas import FriendRequestRead, RequestDirection


def _read(
    request_id: int,
    sender: User,
    addressee: User,
    created_at: datetime,
    status: Literal["pending", "accepted"] = "pending",
) -> FriendRequestRead:
    return FriendRequestRead(
        id=request_id,
        from_user=profiles.read(sender),
        to_user=profiles.read(addressee),
        created_at=created_at,
        status=status,
    )


async def _accepted(session: AsyncSession, request: FriendRequest) -> FriendRequestRead:
    """Make the two people of a (just deleted) request friends and describe the result."""
    sender, addressee = request.from_user_id, request.to_user_id
    if await friends.make_friends(session, sender, addressee):
        record_event(
            session,
            "friend.accepted",
            actor_id=addressee,
            data={
                "request_id": str(request.id),
                "from_user_id": str(sender),
                "to_user_id": str(addressee),
            },
        )
    users = await repo.get_users(session, {sender, addressee})
    if sender not in users or addressee not in users:
        raise UserNotFound()
    return _read(request.id, users[sender], users[addressee], request.created_at, "accepted")


async def _may_ask(session: AsyncSession, sender_id: int, target: User) -> None:
    policy = target.friend_request_policy
    if policy == FriendRequestPolicy.nobody or (
        policy == FriendRequestPolicy.friends_of_friends
        and not await repo.has_mutual_friend(session, sender_id, target.id)
    ):
        raise FriendRequestsNotAccepted()


async def send(session: AsyncSession, viewer_id: int, user_id: int) -> FriendRequestRead:
    """Ask someone to be friends; emits `friend.requested`.

    If they had already asked the viewer, the two requests cross: that request
    is accepted at once, the answer describes it with `status: "accepted"`,
    and `friend.accepted` is emitted instead.
    """
    profiles.refuse_self(
        viewer_id, user_id, "You cannot send yourself a friend request.", loc=["body", "user_id"]
    )
    await repo.lock_ties(session, viewer_id, user_id)
    target = await profiles.get_visible_user(session, viewer_id, user_id)
    if await friends_repo.are_friends(session, viewer_id, user_id):
        raise AlreadyFriends()
    crossing = await friends_repo.take_request(session, from_user_id=user_id, to_user_id=viewer_id)
    if crossing is not None:
        return await _accepted(session, crossing)
    if await friends_repo.find_request(session, viewer_id, user_id) is not None:
        raise FriendRequestExists()
    await _may_ask(session, viewer_id, target)
    request_id = new_id()
    try:
        created_at = await friends_repo.insert_request(
            session, request_id=request_id, from_user_id=viewer_id, to_user_id=user_id
        )
    except IntegrityError:
        # The pair is locked, so only a writer that skips the lock gets here.
        raise FriendRequestExists() from None
    record_event(
        session,
        "friend.requested",
        actor_id=viewer_id,
        data={
            "request_id": str(request_id),
            "from_user_id": str(viewer_id),
            "to_user_id": str(user_id),
        },
    )
    sender = await repo.get_user(session, viewer_id)
    if sender is None:
        raise UserNotFound()
    return _read(request_id, sender, target, created_at)


async def list_requests(
    session: AsyncSession, viewer_id: int, direction: RequestDirection, params: PageParams
) -> Page[FriendRequestRead]:
    """Pending requests to or from the viewer, newest first."""
    rows = await friends_repo.requests_of(
        session,
        viewer_id,
        incoming=direction == RequestDirection.incoming,
        after=params.after,
        limit=params.limit,
    )
    items, cursor = page_of(rows, params, key=lambda row: row[0].id)
    return Page(
        items=[_read(r.id, sender, addressee, r.created_at) for r, sender, addressee in items],
        next_cursor=cursor,
    )


async def _refusal(
    session: AsyncSession, viewer_id: int, request_id: int, *, sender: bool
) -> AppError:
    """Why a request could not be answered: the other party is refused (403); for
    anyone else it does not exist (404)."""
    request = await friends_repo.get_request(session, request_id)
    if request is not None:
        if sender and request.to_user_id == viewer_id:
            return NotTheSender()
        if not sender and request.from_user_id == viewer_id:
            return NotTheAddressee()
    return FriendRequestNotFound()


async def accept(session: AsyncSession, viewer_id: int, request_id: int) -> FriendRequestRead:
    """The addressee accepts: friends, following each other, request gone; `friend.accepted`."""
    parties = await friends_repo.request_parties(session, request_id)
    if parties is not None and parties[1] == viewer_id:
        await repo.lock_ties(session, *parties)
    request = await friends_repo.take_request(session, request_id=request_id, to_user_id=viewer_id)
    if request is None:
        raise await _refusal(session, viewer_id, request_id, sender=False)
    return await _accepted(session, request)


async def decline(session: AsyncSession, viewer_id: int, request_id: int) -> None:
    """The addressee declines: the request is deleted; the sender is not told."""
    if await friends_repo.take_request(session, request_id=request_id, to_user_id=viewer_id):
        return
    raise await _refusal(session, viewer_id, request_id, sender=False)


async def cancel(session: AsyncSession, viewer_id: int, request_id: int) -> None:
    """The sender withdraws a pending request."""
    if await friends_repo.take_request(session, request_id=request_id, from_user_id=viewer_id):
        return
    raise await _refusal(session, viewer_id, request_id, sender=True)
