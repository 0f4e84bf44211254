"""The social graph as query pieces: who hides whom, who are friends, who follows whom.

Pieces, not queries: SQLAlchemy selectables and conditions to put in a
statement, and the raw SQL fragment of the feed's one-statement read. Every
question about the ties between people is answered here once, for the users
service's own lists and for the other services (posts' visibility and feed,
later search and media), which reach these pieces through `users/service.py`.
A change to what a block or a friendship means is made in this file alone.

- Hidden: two people are hidden from each other while either blocks the
  other; each sees nothing of the other, as if they did not exist.
- Friends: a friendship is stored once per direction, so "the friends of X"
  is one index range (`user_id = X`).
- Follows: `follower_id` follows `followee_id`; friends follow each other.

`a` and `b` below are a person's id or a column holding one (to correlate a
piece with the rows of the outer query).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, CompoundSelect, Exists, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from minifb.models import Block, Follow, Friendship

Person = int | ColumnElement[int] | InstrumentedAttribute[int]


# Blocks


def hidden_from(person_id: int) -> CompoundSelect[int]:
    """The ids of the people `person_id` blocked or was blocked by."""
    return (
        select(Block.blocked_id)
        .where(Block.blocker_id == person_id)
        .union(select(Block.blocker_id).where(Block.blocked_id == person_id))
    )


def not_hidden_from(
    viewer_id: int, column: InstrumentedAttribute[int] | ColumnElement[int]
) -> ColumnElement[bool]:
    """A condition keeping the people (ids in `column`) not hidden from `viewer_id`."""
    return column.not_in(hidden_from(viewer_id))


def blocked_either_way(a: Person, b: Person) -> Exists:
    """Whether either of two people blocks the other."""
    return (
        select(Block.blocker_id)
        .where(
            or_(
                and_(Block.blocker_id == a, Block.blocked_id == b),
                and_(Block.blocked_id == a, Block.blocker_id == b),
            )
        )
        .exists()
    )


# Friendships


def friend_ids(person_id: int) -> Select[int]:
    """The ids of `person_id`'s friends."""
    return select(Friendship.friend_id).where(Friendship.user_id == person_id)


def are_friends(a: Person, b: Person) -> Exists:
    """Whether two people are friends."""
    return (
        select(Friendship.friend_id)
        .where(Friendship.user_id == a, Friendship.friend_id == b)
        .exists()
    )


# Follows


def followee_ids(follower_id: int) -> Select[int]:
    """The ids of the people `follower_id` follows (hidden ones included)."""
    return select(Follow.followee_id).where(Follow.follower_id == follower_id)


def visible_followers(person_id: int) -> Select[int]:
    """The ids of the people following `person_id` who are not hidden from them."""
    return select(Follow.follower_id).where(
        Follow.followee_id == person_id, not_hidden_from(person_id, Follow.follower_id)
    )


def followed_among(follower_id: int, candidates: list[int], *, limit: int) -> Select[int]:
    """Which of `candidates` `follower_id` follows and is not hidden from, in id order,
    at most `limit`."""
    return (
        select(Follow.followee_id)
        .where(
            Follow.follower_id == follower_id,
            Follow.followee_id.in_(candidates),
            not_hidden_from(follower_id, Follow.followee_id),
        )
        .order_by(Follow.followee_id)
        .limit(limit)
    )


# Raw SQL, for a statement that skips SQLAlchemy's compiler on a hot path.

FRIEND = "f"
HIDDEN = "b"
TIES_SQL = """SELECT 'f', friend_id, NULL FROM friendships
 WHERE user_id = {viewer} AND friend_id {in_people}
UNION ALL SELECT 'b', blocked_id, NULL FROM blocks
 WHERE blocker_id = {viewer} AND blocked_id {in_people}
UNION ALL SELECT 'b', blocker_id, NULL FROM blocks
 WHERE blocked_id = {viewer} AND blocker_id {in_people}
"""
"""The viewer's ties with some people as `(tag, person id, NULL)` rows: `FRIEND` for
each friend among them, `HIDDEN` for each one hidden (blocked either way; both
directions may give a row). A template for `str.format`: `{viewer}` is the
dialect's placeholder of the viewer's id, `{in_people}` the test that a column
is one of the people (e.g. `= ANY($3::bigint[])`). Three columns, so it can be
joined by `UNION ALL` to rows of the caller's own.
"""


ARE_FRIENDS_SQL = "EXISTS (SELECT 1 FROM friendships WHERE user_id = {a} AND friend_id = {b})"
HIDDEN_SQL = (
    "EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = {a} AND blocked_id = {b})"
    " OR (blocked_id = {a} AND blocker_id = {b}))"
)
"""Whether two people are friends, and whether either blocked the other: templates for
`str.format` with `{a}` and `{b}`, each a column or a placeholder of a person's id."""


def _audiences(followers: str, author: str) -> str:
    ties = {"a": author, "b": "f.follower_id"}
    return (
        f"SELECT {author}, f.follower_id, {ARE_FRIENDS_SQL.format(**ties)}, "
        f"{HIDDEN_SQL.format(**ties)}\n{followers}"
    )


AUDIENCES_SQL = {
    # One index range per author, cut at the limit: a million followers cost `limit` rows.
    "postgresql": _audiences(
        "FROM unnest($1::bigint[]) AS a(author) CROSS JOIN LATERAL"
        " (SELECT follower_id FROM follows WHERE followee_id = a.author LIMIT $2) AS f",
        "a.author",
    ),
    # No LATERAL: each author's followers numbered, the first `limit` kept.
    "sqlite": _audiences(
        "FROM (SELECT followee_id, follower_id,"
        " row_number() OVER (PARTITION BY followee_id) AS n FROM follows"
        " WHERE followee_id IN (SELECT value FROM json_each(?1))) AS f WHERE f.n <= ?2",
        "f.followee_id",
    ),
}
"""Up to `limit` followers of each of some authors as (author id, follower id, is a
friend, hidden either way): in one statement, who may be shown what each author
shares. The parameters: the authors' ids (an array on PostgreSQL, a JSON list on
SQLite), then the limit."""
