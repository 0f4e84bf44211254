"""The seed's content: posts, comment threads and reactions, with every counter matching."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from minifb.kit.db import Database
from minifb.models import Comment, Post, Reaction, ReactionType, Visibility
from minifb.seed.bulk import (
    BATCH,
    DAY_MS,
    HOUR_MS,
    POST_DAYS,
    PastIds,
    ProgressFn,
    bulk_insert,
    count_rows,
    ms_to_datetime,
)
from minifb.seed.graph import Graph

# Shares in percent. Keyed by the enums, so a new member without a share fails at import.
VISIBILITY_SHARES = {Visibility.public: 80, Visibility.friends: 17, Visibility.only_me: 3}
REACTION_SHARES = {
    ReactionType.like: 60,
    ReactionType.love: 20,
    ReactionType.haha: 8,
    ReactionType.wow: 5,
    ReactionType.sad: 4,
    ReactionType.angry: 3,
}
VISIBILITIES = tuple(v.value for v in Visibility)
VISIBILITY_CUM_WEIGHTS = tuple(accumulate(VISIBILITY_SHARES[v] for v in Visibility))
REACTION_TYPES = tuple(t.value for t in ReactionType)
REACTION_CUM_WEIGHTS = tuple(accumulate(REACTION_SHARES[t] for t in ReactionType))
_REACTION_INDEXES = range(len(REACTION_TYPES))
WORDS = (  # noqa: SIM905 - one line of text reads better than fifty list items
    "today weekend coffee friends family trip beach mountain city sunset dinner lunch "
    "music concert movie book garden dog cat baby birthday party wedding work project "
    "finally great amazing tired happy love new old first last best little big really "
    "photo walk run bike game team win lost home back soon again thanks everyone"
).split()


def _text(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize()


def _after(rng: random.Random, start_ms: int, mean_ms: float, now_ms: int) -> int:
    """A moment after `start_ms` (exponential delay), never in the future."""
    moment = start_ms + 1 + int(rng.expovariate(1 / mean_ms))
    if moment >= now_ms:
        moment = start_ms + int((now_ms - start_ms) * rng.random())
    return moment


def _someone_near(rng: random.Random, graph: Graph, author: int) -> int:
    """Mostly a friend of `author`, sometimes anyone."""
    circle = graph.friends[author]
    if circle and rng.random() < 0.7:
        return rng.choice(circle)
    return rng.randrange(len(graph.ids))


@dataclass
class _Batch:
    """The rows of one batch of posts, and the id counters of their tables."""

    post_ids: PastIds
    comment_ids: PastIds
    reaction_ids: PastIds
    posts: list[dict[str, Any]]
    tops: list[dict[str, Any]]
    replies: list[dict[str, Any]]
    reactions: list[dict[str, Any]]


def _reactions(
    rng: random.Random,
    graph: Graph,
    *,
    kind: str,
    target_id: int,
    target_ms: int,
    author: int,
    mean: float,
    ids: PastIds,
    now_ms: int,
    rows: list[dict[str, Any]],
) -> list[int]:
    """Append reactions to one post or comment; return the count of each type."""
    counts = [0] * len(REACTION_TYPES)
    wanted = min(int(rng.expovariate(1 / mean)), len(graph.ids) - 1) if mean > 0 else 0
    who: set[int] = set()
    for _ in range(wanted * 3):  # bounded: a small circle may repeat
        if len(who) >= wanted:
            break
        person = _someone_near(rng, graph, author)
        if person != author:
            who.add(person)
    for person in who:
        kind_index = rng.choices(_REACTION_INDEXES, cum_weights=REACTION_CUM_WEIGHTS)[0]
        counts[kind_index] += 1
        moment = _after(rng, target_ms, 6 * HOUR_MS, now_ms)
        rows.append(
            {
                "id": ids.at(moment),
                "target_kind": kind,
                "target_id": target_id,
                "user_id": graph.ids[person],
                "type": REACTION_TYPES[kind_index],
                "created_at": ms_to_datetime(moment),
            }
        )
    return counts


def _count_columns(counts: list[int]) -> dict[str, int]:
    return {f"{name}_count": n for name, n in zip(REACTION_TYPES, counts, strict=True)}


def _thread(
    rng: random.Random,
    graph: Graph,
    batch: _Batch,
    *,
    author: int,
    post_id: int,
    post_ms: int,
    wanted: int,
    reactions_per_post: float,
    now_ms: int,
) -> None:
    """Append `wanted` comments on one post, in time order, each with its reactions.

    A comment may answer an earlier top-level comment (one level of replies).
    """
    moments = sorted(_after(rng, post_ms, 3 * HOUR_MS, now_ms) for _ in range(wanted))
    thread: list[dict[str, Any]] = []
    for moment in moments:
        commenter = _someone_near(rng, graph, author)
        comment_id = batch.comment_ids.at(moment)
        parent = rng.choice(thread) if thread and rng.random() < 0.3 else None
        counts = _reactions(
            rng,
            graph,
            kind="comment",
            target_id=comment_id,
            target_ms=moment,
            author=commenter,
            mean=reactions_per_post / 6,
            ids=batch.reaction_ids,
            now_ms=now_ms,
            rows=batch.reactions,
        )
        row = {
            "id": comment_id,
            "post_id": post_id,
            "parent_id": parent["id"] if parent else None,
            "author_id": graph.ids[commenter],
            "text": _text(rng, 2, 15),
            "created_at": ms_to_datetime(moment),
            "edited_at": None,
            "reply_count": 0,
            **_count_columns(counts),
        }
        if parent is None:
            thread.append(row)
            batch.tops.append(row)
        else:
            parent["reply_count"] += 1
            batch.replies.append(row)


def _post(
    rng: random.Random,
    graph: Graph,
    batch: _Batch,
    *,
    author: int,
    celebrity: bool,
    window_start: int,
    comments_per_post: float,
    reactions_per_post: float,
    now_ms: int,
) -> None:
    """Append one post by `author`, its comment thread and its reactions."""
    boost = 10 if celebrity else 1
    post_ms = rng.randrange(window_start, now_ms)
    post_id = batch.post_ids.at(post_ms)
    visibility = rng.choices(VISIBILITIES, cum_weights=VISIBILITY_CUM_WEIGHTS)[0]
    wanted = int(rng.expovariate(1 / (comments_per_post * boost))) if comments_per_post else 0
    _thread(
        rng,
        graph,
        batch,
        author=author,
        post_id=post_id,
        post_ms=post_ms,
        wanted=wanted,
        reactions_per_post=reactions_per_post,
        now_ms=now_ms,
    )
    counts = _reactions(
        rng,
        graph,
        kind="post",
        target_id=post_id,
        target_ms=post_ms,
        author=author,
        mean=reactions_per_post * boost,
        ids=batch.reaction_ids,
        now_ms=now_ms,
        rows=batch.reactions,
    )
    batch.posts.append(
        {
            "id": post_id,
            "author_id": graph.ids[author],
            "text": _text(rng, 4, 40),
            "visibility": visibility,
            "created_at": ms_to_datetime(post_ms),
            "edited_at": None,
            # Every comment of the post, replies included.
            "comment_count": wanted,
            **_count_columns(counts),
        }
    )


async def seed_posts(
    db: Database,
    graph: Graph,
    *,
    total: int,
    comments_per_post: float,
    reactions_per_post: float,
    rng: random.Random,
    now_ms: int,
    progress: ProgressFn,
) -> tuple[int, int, int]:
    """Add `total` posts by the graph's people with their comments and reactions.

    A few people post far more than most (log-normal activity), celebrities
    most of all; their posts also draw ten times the comments and reactions.
    Returns the number of posts, comments and reactions added.
    """
    people = len(graph.ids)
    if total <= 0 or people == 0:
        return 0, 0, 0
    post_ids = PastIds(await count_rows(db, Post))
    comment_ids = PastIds(await count_rows(db, Comment))
    reaction_ids = PastIds(await count_rows(db, Reaction))
    window_start = now_ms - POST_DAYS * DAY_MS
    celebs = set(graph.celebrities)
    weights = [rng.lognormvariate(0, 1) * (5 if i in celebs else 1) for i in range(people)]
    cum = list(accumulate(weights))
    expected_comments = int(total * comments_per_post)
    expected_reactions = int(total * reactions_per_post * (1 + comments_per_post / 6))
    done_posts = done_comments = done_reactions = 0
    for offset in range(0, total, BATCH):
        n = min(BATCH, total - offset)
        authors = rng.choices(range(people), cum_weights=cum, k=n)
        batch = _Batch(post_ids, comment_ids, reaction_ids, [], [], [], [])
        for author in authors:
            _post(
                rng,
                graph,
                batch,
                author=author,
                celebrity=author in celebs,
                window_start=window_start,
                comments_per_post=comments_per_post,
                reactions_per_post=reactions_per_post,
                now_ms=now_ms,
            )
        async with db.transaction() as session:
            await bulk_insert(session, Post, batch.posts)
            # Parents before their replies: the foreign key is checked row by row.
            await bulk_insert(session, Comment, batch.tops)
            await bulk_insert(session, Comment, batch.replies)
            for start in range(0, len(batch.reactions), BATCH):
                await bulk_insert(session, Reaction, batch.reactions[start : start + BATCH])
        comments = len(batch.tops) + len(batch.replies)
        done_posts += len(batch.posts)
        done_comments += comments
        done_reactions += len(batch.reactions)
        progress("posts", len(batch.posts), total)
        progress("comments", comments, max(expected_comments, done_comments))
        progress("reactions", len(batch.reactions), max(expected_reactions, done_reactions))
    progress("comments", 0, done_comments)
    progress("reactions", 0, done_reactions)
    return done_posts, done_comments, done_reactions
