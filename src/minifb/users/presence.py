"""Presence, as the people tables hold it: who shows it to whom, and when each was last active.

Whether someone is online now is not stored here: the stream knows it
(`notifications.presence`). A person's active status is shown to the friends
who show theirs, and to nobody when it is off (docs/decisions/0122).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.users import repository as repo


@dataclass(frozen=True, slots=True)
class Audience:
    """Whether a person shows their active status, and the friends who show theirs."""

    shown: bool
    friend_ids: list[int]

    @property
    def watchers(self) -> list[int]:
        """Who sees the person's presence now: their friends who show theirs, or nobody."""
        return self.friend_ids if self.shown else []


async def presence_audience(session: AsyncSession, user_id: int) -> Audience:
    shown = await repo.shows_presence(session, user_id)
    friends = await repo.friends_showing_presence(session, user_id)
    return Audience(shown, [friend_id for friend_id, _ in friends])


async def friends_presence(
    session: AsyncSession, viewer_id: int, *, after: int | None = None, limit: int | None = None
) -> Sequence[tuple[int, datetime | None]] | None:
    """(id, last active) of the viewer's friends who show their active status, highest id
    first (`limit + 1` rows when a limit is given); None when the viewer's own is off."""
    if not await repo.shows_presence(session, viewer_id):
        return None
    return await repo.friends_showing_presence(session, viewer_id, after=after, limit=limit)


async def record_last_active(session: AsyncSession, user_id: int, at: datetime) -> None:
    await repo.set_last_active(session, user_id, at)
