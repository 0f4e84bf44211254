"""Queries about reactions (see `repository.py` for the locking order).

Setting a reaction is `INSERT ... ON CONFLICT DO NOTHING` and, when the row
was there, a read of its type and an UPDATE only if the type differs: the
caller has locked the target row first, so on PostgreSQL reactions to one
target queue on it, and on SQLite the INSERT takes the single write lock.
Either way the read sees the latest committed type and the counters change by
exactly the real change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected, insert_ignore
from minifb.models import Comment, Post, Reaction, User
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts.repository import REACTION_TYPES
from minifb.users import service as users

_TABLES: dict[TargetKind, Any] = {TargetKind.post: Post, TargetKind.comment: Comment}


def _target(kind: TargetKind, target_id: int, user_id: int) -> list[Any]:
    return [
        Reaction.target_kind == kind,
        Reaction.target_id == target_id,
        Reaction.user_id == user_id,
    ]


async def set_reaction(
    session: AsyncSession,
    kind: TargetKind,
    target_id: int,
    user_id: int,
    type_: ReactionType,
    *,
    reaction_id: int,
    now: datetime,
) -> tuple[bool, ReactionType | None]:
    """Make the person's reaction `type_`: (whether it changed, the previous type)."""
    inserted = await session.execute(
        insert_ignore(session, Reaction).values(
            id=reaction_id,
            target_kind=kind,
            target_id=target_id,
            user_id=user_id,
            type=type_,
            created_at=now,
        )
    )
    if affected(inserted) > 0:
        return True, None
    query = select(Reaction.type).where(*_target(kind, target_id, user_id)).with_for_update()
    previous = await session.scalar(query)
    if previous is None or previous == type_:
        return False, previous
    await session.execute(
        update(Reaction)
        .where(*_target(kind, target_id, user_id))
        .values(type=type_, created_at=now)
    )
    return True, previous


async def remove_reaction(
    session: AsyncSession, kind: TargetKind, target_id: int, user_id: int
) -> ReactionType | None:
    """Delete the person's reaction; its type, or None when there was none."""
    result = await session.execute(
        delete(Reaction).where(*_target(kind, target_id, user_id)).returning(Reaction.type)
    )
    return result.scalar()


async def shift_counts(
    session: AsyncSession,
    kind: TargetKind,
    target_id: int,
    *,
    minus: ReactionType | None = None,
    plus: ReactionType | None = None,
) -> bool:
    """Atomically move one count from `minus` to `plus` on the target; False when it is gone."""
    table = _TABLES[kind]
    values: dict[str, Any] = {}
    if minus:
        values[f"{minus}_count"] = getattr(table, f"{minus}_count") - 1
    if plus:
        values[f"{plus}_count"] = getattr(table, f"{plus}_count") + 1
    result = await session.execute(update(table).where(table.id == target_id).values(**values))
    return affected(result) > 0


async def counts(session: AsyncSession, kind: TargetKind, target_id: int) -> dict[str, int]:
    """The target's count of each reaction type (all 0 when it is gone)."""
    table = _TABLES[kind]
    columns = [getattr(table, f"{t}_count") for t in REACTION_TYPES]
    row = (await session.execute(select(*columns).where(table.id == target_id))).first()
    return dict(zip(REACTION_TYPES, row or (0,) * len(REACTION_TYPES), strict=True))


class ReactorRow(NamedTuple):
    """A reaction with the person who reacted."""

    reaction_id: int
    type: ReactionType
    reacted_at: datetime
    id: int  # the person's
    username: str
    display_name: str
    bio: str
    avatar_url: str | None
    created_at: datetime  # the person's


async def reactors(
    session: AsyncSession,
    viewer_id: int,
    kind: TargetKind,
    target_id: int,
    *,
    type_: ReactionType | None,
    before: int | None,
    limit: int,
) -> list[ReactorRow]:
    """Who reacted, newest first, leaving out people blocked either way with the viewer;
    `limit + 1` rows."""
    query = (
        select(
            Reaction.id.label("reaction_id"),
            Reaction.type,
            Reaction.created_at.label("reacted_at"),
            User.id,
            User.username,
            User.display_name,
            User.bio,
            User.avatar_url,
            User.created_at,
        )
        .join(User, User.id == Reaction.user_id)
        .where(
            Reaction.target_kind == kind,
            Reaction.target_id == target_id,
            users.not_hidden_from(viewer_id, Reaction.user_id),
        )
    )
    if type_ is not None:
        query = query.where(Reaction.type == type_)
    if before is not None:
        query = query.where(Reaction.id < before)
    query = query.order_by(Reaction.id.desc()).limit(limit + 1)
    return [ReactorRow(*row) for row in await session.execute(query)]
