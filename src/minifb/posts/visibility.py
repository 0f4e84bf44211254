"""Who may see what: the one rule every read path of posts and comments applies.

- a `public` post: everyone except people blocked either way with its author;
- a `friends` post: the author and the author's friends (a block ends a friendship);
- an `only_me` post: the author alone.

A comment is visible iff its post is, unless the viewer and the comment's
author are blocked either way. Whoever may not see a post gets exactly the
answer a missing post gets (404).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.models.post import Visibility
from minifb.posts import repository as repo


@dataclass(frozen=True, slots=True)
class Relations:
    """The viewer's ties with some people: friends, and blocks in either direction."""

    friends: frozenset[int] = frozenset()
    hidden: frozenset[int] = frozenset()


def may_see(viewer_id: int, author_id: int, visibility: str, rel: Relations) -> bool:
    """Whether `viewer_id` may see a post by `author_id` with this visibility."""
    if author_id == viewer_id:
        return True
    if author_id in rel.hidden:
        return False
    if visibility == Visibility.public:
        return True
    if visibility == Visibility.friends:
        return author_id in rel.friends
    return False


def may_see_comment(
    viewer_id: int,
    *,
    post_author_id: int,
    post_visibility: str,
    comment_author_id: int,
    rel: Relations,
) -> bool:
    """A comment is visible iff its post is and no block stands between viewer and commenter."""
    if not may_see(viewer_id, post_author_id, post_visibility, rel):
        return False
    return comment_author_id == viewer_id or comment_author_id not in rel.hidden


def visible_levels(viewer_id: int, author_id: int, rel: Relations) -> list[Visibility]:
    """The visibilities of `author_id`'s posts the viewer may see (for SQL filters)."""
    return [v for v in Visibility if may_see(viewer_id, author_id, v, rel)]


async def relations(session: AsyncSession, viewer_id: int, people: Collection[int]) -> Relations:
    """The viewer's friendships with and blocks between `people`, in one query."""
    others = {p for p in people if p != viewer_id}
    if not others:
        return Relations()
    rows = await repo.viewer_context(session, viewer_id, people=others, post_ids=())
    return relations_of(rows)


def relations_of(rows: Collection[tuple[str, int, str | None]]) -> Relations:
    """Relations from the `('f'|'b', person id, None)` rows of `repo.viewer_context`."""
    return Relations(
        friends=frozenset(i for kind, i, _ in rows if kind == "f"),
        hidden=frozenset(i for kind, i, _ in rows if kind == "b"),
    )
