"""Friendships: making and ending them, friend lists, mutual friends, suggestions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams
from minifb.kit.schemas import Page
from minifb.users import follows_repository as follows_repo
from minifb.users import friends_repository as friends_repo
from minifb.users import profiles
from minifb.users import repository as repo
from minifb.users.exceptions import NotFriends
from minifb.users.schemas import PersonRead


async def make_friends(session: AsyncSession, a: int, b: int) -> bool:
    """Befriend two people: both rows of the friendship, a follow each way, no pending requests.

    The caller holds the pair's lock (`repository.lock_ties`). Every write
    ignores what is already there (an existing follow stays). Returns whether
    the friendship is new.
    """
    created = await friends_repo.insert_friendship(session, friendship_id=new_id(), a=a, b=b)
    await follows_repo.insert_follows(session, [(a, b), (b, a)])
    await friends_repo.delete_requests_between(session, a, b)
    return created


async def unfriend(session: AsyncSession, viewer_id: int, user_id: int) -> None:
    """End a friendship (both rows) and the follows both ways, as Facebook's unfriend does.

    Not being friends (including with oneself, or with someone hidden) is 404.
    Emits `friend.removed`, so each feed drops the other's posts.
    """
    if viewer_id == user_id:
        raise NotFriends()
    await repo.lock_ties(session, viewer_id, user_id)
    if not await friends_repo.delete_friendship(session, viewer_id, user_id):
        raise NotFriends()
    await follows_repo.delete_follows_between(session, viewer_id, user_id)
    record_event(
        session,
        "friend.removed",
        actor_id=viewer_id,
        data={"user_id": str(viewer_id), "friend_id": str(user_id)},
    )


async def list_friends(
    session: AsyncSession, viewer_id: int, user_id: int, params: PageParams
) -> Page[PersonRead]:
    """A person's friends, most recent first, without anyone hidden from the viewer."""
    await profiles.get_visible_user(session, viewer_id, user_id)
    rows = await friends_repo.friends_of(
        session, viewer_id, user_id, after=params.after, limit=params.limit
    )
    return await profiles.people_page(session, viewer_id, rows, params)


async def list_mutual_friends(
    session: AsyncSession, viewer_id: int, user_id: int, params: PageParams
) -> Page[PersonRead]:
    """The people who are friends of both the viewer and `user_id`."""
    profiles.refuse_self(
        viewer_id,
        user_id,
        "Mutual friends are shared with someone else.",
        loc=["path", "user_id"],
    )
    await profiles.get_visible_user(session, viewer_id, user_id)
    rows = await friends_repo.mutual_friends(
        session, viewer_id, user_id, after=params.after, limit=params.limit
    )
    return await profiles.people_page(session, viewer_id, rows, params)


async def suggestions(session: AsyncSession, viewer_id: int, *, limit: int) -> Page[PersonRead]:
    """Friends of friends ranked by mutual friends (then id); one query, no cursor."""
    rows = await friends_repo.suggestions_for(session, viewer_id, limit=limit)
    return Page(items=[profiles.person(user, mutual) for user, mutual in rows], next_cursor=None)
