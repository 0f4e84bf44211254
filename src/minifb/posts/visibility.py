"""Who may see what: the one rule every read path of posts and comments applies.

- a `public` post: everyone except people blocked either way with its author;
- a `friends` post: the author and the author's friends (a block ends a friendship);
- an `only_me` post: the author alone.

A comment is visible iff its post is, unless the viewer and the comment's
author are blocked either way. Whoever may not see a post gets exactly the
answer a missing post gets (404).

The rule is written side by side: `may_see` in Python, for posts in hand (one
post, a page of cached posts), `visible_sql`, the same rule as one SQL
condition, for queries that pick posts (a timeline, a feed rebuild, search and
media), and `visible_text`, that condition as raw SQL text for a statement
that skips the compiler on a hot path (the feed's merge of big authors).
`tests/posts/test_visibility_rule.py` holds them to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true

from minifb.models.post import Post, Visibility
from minifb.users import service as users


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


def visible_sql(viewer_id: int, rel: Relations | None = None) -> ColumnElement[bool]:
    """`may_see` as one SQL condition on the rows of `posts`.

    Without `rel`, the viewer's friends and the people hidden from them are
    subqueries of the social graph. With `rel`, they are its ids instead: the
    caller already holds them, and they must cover every author the query
    can return (it restricts the authors to those it asked about).
    """
    not_hidden: ColumnElement[bool]
    friend: ColumnElement[bool]
    if rel is None:
        not_hidden = users.not_hidden_from(viewer_id, Post.author_id)
        friend = Post.author_id.in_(users.friend_ids(viewer_id))
    else:
        not_hidden = Post.author_id.not_in(sorted(rel.hidden)) if rel.hidden else true()
        friend = Post.author_id.in_(sorted(rel.friends)) if rel.friends else false()
    return or_(
        Post.author_id == viewer_id,
        and_(
            not_hidden,
            or_(
                Post.visibility == Visibility.public,
                and_(Post.visibility == Visibility.friends, friend),
            ),
        ),
    )


def visible_text(viewer: str, author: str = "author_id", visibility: str = "visibility") -> str:
    """`visible_sql` (the ties as subqueries) as raw SQL text: `viewer` is the dialect's
    placeholder of the viewer's id, `author` and `visibility` the post's columns."""
    ties = {"a": viewer, "b": author}
    return (
        f"({author} = {viewer} OR (NOT {users.HIDDEN_SQL.format(**ties)}"
        f" AND ({visibility} = '{Visibility.public.value}'"
        f" OR ({visibility} = '{Visibility.friends.value}'"
        f" AND {users.ARE_FRIENDS_SQL.format(**ties)}))))"
    )
