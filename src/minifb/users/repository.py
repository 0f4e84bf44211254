"""Queries about people: profiles, mutual-friend counts, blocks, presence.

Friend requests and friendships live in `friends_repository.py`, follows in
`follows_repository.py`; who is hidden from whom, who are friends and who
follows whom, as pieces of queries, in `graph.py`. Lists fetch `limit + 1`
rows ordered by their cursor key (a time-ordered id) descending, and return
`(user, key)` pairs for `kit.pagination.page_of`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from minifb.kit.db import affected, among, insert_ignore
from minifb.models import Block, Friendship, User
from minifb.users import graph

UserRow = tuple[User, int]


def older_than(key: InstrumentedAttribute[int], after: int | None) -> list[ColumnElement[bool]]:
    """The cursor condition: rows strictly older than the last one of the previous page."""
    return [] if after is None else [key < after]


async def lock_ties(session: AsyncSession, a: int, b: int) -> None:
    """Hold the lock on everything between two people until the transaction ends.

    Every change to what ties two people (requests, friendship, follows, a
    block) takes this one lock first, before it reads what it will decide on,
    so concurrent changes to one pair run one after the other and each sees
    what the one before it committed. One lock per pair, taken before any row
    lock, is the fixed order that keeps them from deadlocking; a transaction
    never takes two. On PostgreSQL it is a transaction-scoped advisory lock
    on the unordered pair. SQLite has a single writer, but its driver runs
    reads before the first write outside the transaction: a write that changes
    nothing takes the database's write lock now, so the reads that follow are
    the transaction's and no other writer can get in between.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_pair_key(a, b))))
    else:
        await session.execute(delete(Block).where(false()))


def _pair_key(a: int, b: int) -> int:
    """A stable signed 64-bit key for the unordered pair (another pair sharing it only waits)."""
    low, high = sorted((a, b))
    digest = hashlib.blake2b(f"ties:{low}:{high}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_users(session: AsyncSession, user_ids: Collection[int]) -> dict[int, User]:
    """Several people by id, in one query."""
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(among(session, User.id, user_ids)))
    return {u.id: u for u in rows}


async def notice_settings(
    session: AsyncSession, ids: Collection[int], usernames: Collection[str]
) -> Sequence[tuple[int, str, list[str]]]:
    """(id, username, muted notification types) of the people named by id or username."""
    if not ids and not usernames:
        return []
    query = select(User.id, User.username, User.muted_notifications).where(
        or_(User.id.in_(list(ids)), User.username.in_(list(usernames)))
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(query)]


async def username_exists(session: AsyncSession, username: str) -> bool:
    return bool(await session.scalar(select(exists().where(User.username == username))))


async def email_exists(session: AsyncSession, email: str) -> bool:
    return bool(await session.scalar(select(exists().where(User.email == email))))


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """A person by username or email (both stored lower-cased)."""
    login = login.strip().lower()
    column = User.email if "@" in login else User.username
    return await session.scalar(select(User).where(column == login))


async def find_visible_by_username(
    session: AsyncSession, viewer_id: int, username: str
) -> User | None:
    """The person with exactly this (lower-cased) username, unless hidden from the viewer."""
    query = select(User).where(User.username == username, graph.not_hidden_from(viewer_id, User.id))
    return await session.scalar(query)


async def is_blocked_either_way(session: AsyncSession, a: int, b: int) -> bool:
    return bool(await session.scalar(select(graph.blocked_either_way(a, b))))


async def mutual_friend_counts(
    session: AsyncSession, viewer_id: int, user_ids: Collection[int]
) -> dict[int, int]:
    """How many friends each of `user_ids` shares with the viewer: one grouped query."""
    ids = [i for i in user_ids if i != viewer_id]
    if not ids:
        return {}
    mine = aliased(Friendship)
    theirs = aliased(Friendship)
    query = (
        select(theirs.user_id, func.count())
        .select_from(mine)
        .join(theirs, theirs.friend_id == mine.friend_id)
        .where(mine.user_id == viewer_id, among(session, theirs.user_id, ids))
        .group_by(theirs.user_id)
    )
    return dict((await session.execute(query)).all())


async def has_mutual_friend(session: AsyncSession, a: int, b: int) -> bool:
    mine = aliased(Friendship)
    theirs = aliased(Friendship)
    query = select(
        exists()
        .where(mine.user_id == a, theirs.user_id == b, theirs.friend_id == mine.friend_id)
        .select_from(mine, theirs)
    )
    return bool(await session.scalar(query))


# Blocks


async def is_blocking(session: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    query = select(exists().where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id))
    return bool(await session.scalar(query))


async def insert_block(
    session: AsyncSession, *, block_id: int, blocker_id: int, blocked_id: int
) -> bool:
    """Record a block; False when it was already there."""
    result = await session.execute(
        insert_ignore(session, Block).values(
            id=block_id, blocker_id=blocker_id, blocked_id=blocked_id
        )
    )
    return affected(result) > 0


async def delete_block(session: AsyncSession, blocker_id: int, blocked_id: int) -> bool:
    result = await session.execute(
        delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
    )
    return affected(result) > 0


async def blocked_by(
    session: AsyncSession, blocker_id: int, *, after: int | None, limit: int
) -> Sequence[UserRow]:
    """The people `blocker_id` blocked, most recent block first."""
    query = (
        select(User, Block.id)
        .join(Block, Block.blocked_id == User.id)
        .where(Block.blocker_id == blocker_id, *older_than(Block.id, after))
        .order_by(Block.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()


# Presence


async def shows_presence(session: AsyncSession, user_id: int) -> bool:
    """Whether the person exists and has their active status on."""
    return bool(await session.scalar(select(User.active_status).where(User.id == user_id)))


async def friends_showing_presence(
    session: AsyncSession, user_id: int, *, after: int | None = None, limit: int | None = None
) -> Sequence[tuple[int, datetime | None]]:
    """(id, last active) of the friends of `user_id` whose active status is on,
    highest id first; `limit + 1` rows when a limit is given."""
    query = (
        select(User.id, User.last_active_at)
        .join(Friendship, Friendship.friend_id == User.id)
        .where(
            Friendship.user_id == user_id,
            User.active_status.is_(True),
            *older_than(User.id, after),
        )
        .order_by(User.id.desc())
    )
    if limit is not None:
        query = query.limit(limit + 1)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def set_last_active(session: AsyncSession, user_id: int, at: datetime) -> None:
    """Record when the person was last active, unless a later time is recorded already."""
    await session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.last_active_at.is_(None), User.last_active_at < at),
        )
        # Being active is not a change to the profile: `updated_at` stays.
        .values(last_active_at=at, updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
