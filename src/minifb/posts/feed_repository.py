"""Queries of the news feed: who receives a post, and the ids a feed is made of.

Only ids leave here (no ORM objects): the feed stores ids and hydrates them
through `rendering`. Every query is bounded by a `limit`. Who follows, befriends
or hides whom comes from the social graph of the users service; who may see a
post from `visibility.visible_sql` (`visible_text` in raw SQL).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database, driver_rows
from minifb.kit.ids import MAX_ID
from minifb.models import Post
from minifb.posts.visibility import Relations, visible_sql, visible_text
from minifb.users import service as users

# A follower of an author, as fan-out sees them: (author id, follower id, a friend
# of the author, blocked either way with the author), the row as the driver gives it.
Follower = tuple[int, int, bool, bool]


async def audiences(
    session: AsyncSession, author_ids: Collection[int], *, cap: int
) -> dict[int, list[Follower]]:
    """Up to `cap` followers of each of `author_ids`: in one query, what fan-out needs both
    to spot a big author and to pick who may see a post."""
    found: dict[int, list[Follower]] = {author: [] for author in author_ids}
    # Raw, per dialect and on the driver: the fan-out's one query a batch skips SQL
    # compilation and SQLAlchemy's rows.
    dialect = session.get_bind().dialect.name
    authors = list(author_ids)
    params = (authors if dialect == "postgresql" else orjson.dumps(authors).decode(), cap)
    for row in await driver_rows(session, users.AUDIENCES_SQL[dialect], params):
        found[row[0]].append(row)
    return found


async def followers(session: AsyncSession, author_id: int) -> list[int]:
    """Everyone following `author_id` and not blocked either way."""
    return list(await session.scalars(users.visible_followers(author_id)))


async def feed_ids(
    session: AsyncSession, viewer_id: int, *, limit: int, before: int | None = None
) -> list[int]:
    """A feed from scratch: the newest posts of the viewer and of whom they follow, visible to
    them, newest first (older than `before` when given).

    The people come first, as plain lists: given them, the database reads each
    author's newest posts by the (author_id, id) index. One statement with the
    follows as a subquery let PostgreSQL walk every post newest first instead
    (a second per rebuild on 500,000 posts).
    """
    followed = set(await session.scalars(users.followee_ids(viewer_id)))
    hidden = set(await session.scalars(users.hidden_from(viewer_id)))
    authors = (followed - hidden) | {viewer_id}
    friends = set(await session.scalars(users.friend_ids(viewer_id)))
    # The viewer's ties with the authors, the only people the query returns posts of:
    # friends among them, and nobody hidden.
    rel = Relations(friends=frozenset(friends & authors))
    query = select(Post.id).where(Post.author_id.in_(authors), visible_sql(viewer_id, rel))
    if before is not None:
        query = query.where(Post.id < before)
    return list(await session.scalars(query.order_by(Post.id.desc()).limit(limit)))


async def posts_of(
    session: AsyncSession,
    author_ids: Collection[int],
    *,
    viewer_id: int | None,
    before: int | None = None,
    limit: int,
) -> list[int]:
    """The newest post ids of some authors, newest first, older than `before` when given.

    With `viewer_id`, only those the viewer may see; without, all of them
    (for taking an author's posts out of a feed).
    """
    if not author_ids:
        return []
    query = select(Post.id).where(Post.author_id.in_(list(author_ids)))
    if viewer_id is not None:
        query = query.where(visible_sql(viewer_id))
    if before is not None:
        query = query.where(Post.id < before)
    return list(await session.scalars(query.order_by(Post.id.desc()).limit(limit)))


_VISIBLE_POSTS_OF = (
    "SELECT id FROM posts WHERE author_id {in_authors} AND id <= {last} AND {visible}"
    " ORDER BY id DESC LIMIT {limit}"
)
VISIBLE_POSTS_OF_SQL = {
    "postgresql": _VISIBLE_POSTS_OF.format(
        in_authors="= ANY($2::bigint[])", last="$3", visible=visible_text("$1"), limit="$4"
    ),
    "sqlite": _VISIBLE_POSTS_OF.format(
        in_authors="IN (SELECT value FROM json_each(?2))",
        last="?3",
        visible=visible_text("?1"),
        limit="?4",
    ),
}


async def visible_posts_of(
    db: Database,
    author_ids: Collection[int],
    *,
    viewer_id: int,
    before: int | None = None,
    limit: int,
) -> list[int]:
    """`posts_of` with a viewer, outside any transaction and straight on the driver: the
    feed's merge of big authors, on most reads of most feeds."""
    if not author_ids:
        return []
    authors: Any = list(author_ids)
    if db.dialect != "postgresql":
        authors = orjson.dumps(authors).decode()
    params = (viewer_id, authors, MAX_ID if before is None else before - 1, limit)
    return [int(row[0]) for row in await db.fetch(VISIBLE_POSTS_OF_SQL[db.dialect], *params)]


async def followed_among(
    session: AsyncSession, viewer_id: int, author_ids: Sequence[int], *, limit: int
) -> list[int]:
    """Which of `author_ids` the viewer follows (and is not blocked with), at most `limit`."""
    if not author_ids or limit <= 0:
        return []
    return list(
        await session.scalars(users.followed_among(viewer_id, list(author_ids), limit=limit))
    )
