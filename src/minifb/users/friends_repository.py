"""Queries about friend requests, friendships and suggestions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from minifb.kit.db import affected, insert_ignore, utcnow
from minifb.models import FriendRequest, Friendship, User
from minifb.users import graph
from minifb.users.repository import UserRow, older_than

RequestRow = tuple[FriendRequest, User, User]


def _between(a: int, b: int) -> ColumnElement[bool]:
    return or_(
        (FriendRequest.from_user_id == a) & (FriendRequest.to_user_id == b),
        (FriendRequest.from_user_id == b) & (FriendRequest.to_user_id == a),
    )


# Friend requests


async def get_request(session: AsyncSession, request_id: int) -> FriendRequest | None:
    return await session.get(FriendRequest, request_id)


async def request_parties(session: AsyncSession, request_id: int) -> tuple[int, int] | None:
    """(sender, addressee) of a pending request, read afresh (not from the session's objects)."""
    query = select(FriendRequest.from_user_id, FriendRequest.to_user_id).where(
        FriendRequest.id == request_id
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def find_request(
    session: AsyncSession, from_user_id: int, to_user_id: int
) -> FriendRequest | None:
    query = select(FriendRequest).where(
        FriendRequest.from_user_id == from_user_id, FriendRequest.to_user_id == to_user_id
    )
    return await session.scalar(query)


async def insert_request(
    session: AsyncSession, *, request_id: int, from_user_id: int, to_user_id: int
) -> datetime:
    """Store a pending request; raises IntegrityError if that direction is already pending."""
    created_at = utcnow()
    await session.execute(
        insert(FriendRequest).values(
            id=request_id, from_user_id=from_user_id, to_user_id=to_user_id, created_at=created_at
        )
    )
    return created_at


async def take_request(
    session: AsyncSession,
    *,
    request_id: int | None = None,
    from_user_id: int | None = None,
    to_user_id: int | None = None,
) -> FriendRequest | None:
    """Delete the request matching every given criterion, returning what it was (detached).

    Deleting first (rather than reading, then deleting) makes two concurrent
    answers to one request safe: only one of them gets the row back.
    """
    if request_id is None and (from_user_id is None or to_user_id is None):
        raise ValueError("name a request by id or by both of its people")
    query = delete(FriendRequest)
    if request_id is not None:
        query = query.where(FriendRequest.id == request_id)
    if from_user_id is not None:
        query = query.where(FriendRequest.from_user_id == from_user_id)
    if to_user_id is not None:
        query = query.where(FriendRequest.to_user_id == to_user_id)
    returned = query.returning(
        FriendRequest.id,
        FriendRequest.from_user_id,
        FriendRequest.to_user_id,
        FriendRequest.created_at,
    )
    row = (await session.execute(returned)).first()
    if row is None:
        return None
    return FriendRequest(id=row[0], from_user_id=row[1], to_user_id=row[2], created_at=row[3])


async def delete_requests_between(session: AsyncSession, a: int, b: int) -> int:
    """Drop pending requests in both directions."""
    return affected(await session.execute(delete(FriendRequest).where(_between(a, b))))


async def requests_of(
    session: AsyncSession,
    user_id: int,
    *,
    incoming: bool,
    after: int | None,
    limit: int,
) -> Sequence[RequestRow]:
    """Pending requests to (`incoming`) or from a person, newest first, with both people."""
    sender = aliased(User)
    addressee = aliased(User)
    party = FriendRequest.to_user_id if incoming else FriendRequest.from_user_id
    query = (
        select(FriendRequest, sender, addressee)
        .join(sender, sender.id == FriendRequest.from_user_id)
        .join(addressee, addressee.id == FriendRequest.to_user_id)
        .where(party == user_id, *older_than(FriendRequest.id, after))
        .order_by(FriendRequest.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()


# Friendships


async def are_friends(session: AsyncSession, a: int, b: int) -> bool:
    return bool(await session.scalar(select(graph.are_friends(a, b))))


async def insert_friendship(session: AsyncSession, *, friendship_id: int, a: int, b: int) -> bool:
    """Store both directions under one id; False when they were friends already.

    The rows go in key order, whoever asked whom, so two writers of one pair
    that got past its lock would still queue rather than deadlock.
    """
    now = utcnow()
    low, high = sorted((a, b))
    rows = [
        {"id": friendship_id, "user_id": low, "friend_id": high, "created_at": now},
        {"id": friendship_id, "user_id": high, "friend_id": low, "created_at": now},
    ]
    return affected(await session.execute(insert_ignore(session, Friendship).values(rows))) > 0


async def delete_friendship(session: AsyncSession, a: int, b: int) -> bool:
    """Remove both directions; False when they were not friends."""
    query = delete(Friendship).where(
        or_(
            (Friendship.user_id == a) & (Friendship.friend_id == b),
            (Friendship.user_id == b) & (Friendship.friend_id == a),
        )
    )
    return affected(await session.execute(query)) > 0


async def friends_of(
    session: AsyncSession, viewer_id: int, user_id: int, *, after: int | None, limit: int
) -> Sequence[UserRow]:
    """A person's friends the viewer may see, most recent friendship first."""
    query = (
        select(User, Friendship.id)
        .join(Friendship, Friendship.friend_id == User.id)
        .where(
            Friendship.user_id == user_id,
            graph.not_hidden_from(viewer_id, User.id),
            *older_than(Friendship.id, after),
        )
        .order_by(Friendship.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()


async def mutual_friends(
    session: AsyncSession, viewer_id: int, user_id: int, *, after: int | None, limit: int
) -> Sequence[UserRow]:
    """Friends of both people, ordered by the viewer's friendship, most recent first.

    No block filter is needed: a block ends a friendship, so the viewer's
    friends are never hidden from the viewer.
    """
    mine = aliased(Friendship)
    theirs = aliased(Friendship)
    query = (
        select(User, mine.id)
        .join(mine, mine.friend_id == User.id)
        .join(theirs, (theirs.friend_id == User.id) & (theirs.user_id == user_id))
        .where(mine.user_id == viewer_id, *older_than(mine.id, after))
        .order_by(mine.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()


async def suggestions_for(session: AsyncSession, user_id: int, *, limit: int) -> Sequence[UserRow]:
    """Friends of friends ranked by mutual friends, in one grouped query.

    Left out: the person, their friends, anyone with a pending request either
    way, and anyone blocked either way. Returns `(user, mutual_friends)`.
    """
    mine = aliased(Friendship)
    theirs = aliased(Friendship)
    candidate = theirs.friend_id
    friends = select(Friendship.friend_id).where(Friendship.user_id == user_id)
    asked = select(FriendRequest.to_user_id).where(FriendRequest.from_user_id == user_id)
    asking = select(FriendRequest.from_user_id).where(FriendRequest.to_user_id == user_id)
    ranked = (
        select(candidate.label("user_id"), func.count().label("mutual"))
        .select_from(mine)
        .join(theirs, theirs.user_id == mine.friend_id)
        .where(
            mine.user_id == user_id,
            candidate != user_id,
            candidate.not_in(friends),
            candidate.not_in(asked),
            candidate.not_in(asking),
            graph.not_hidden_from(user_id, candidate),
        )
        .group_by(candidate)
        .subquery()
    )
    query = (
        select(User, ranked.c.mutual)
        .join(ranked, ranked.c.user_id == User.id)
        .order_by(ranked.c.mutual.desc(), User.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()
