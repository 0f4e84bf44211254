"""The news feed (DESIGN §5): fan-out on write into a sorted set per person, read by cursor.

Cache keys (all through the `Cache` port, so every tier runs this code):

- `feed:{u<user_id>}` (`FEED_KEY`): the post ids of a person's feed, member = the
  id as a string (exact), score = `score(id)`. The member `COMPLETE` (score
  +inf) marks a feed built from the database: a feed without it is missing or
  holds only what fan-out added since, and is rebuilt on the next read. It
  also keeps an empty feed from being rebuilt on every read.
- `feed:{u<user_id>}:big` (`BIG_FOLLOWED_KEY`): the authors this person follows
  whose posts are not fanned out (too many followers); merged in at read time.
  The braces are a Redis Cluster hash tag: a person's two keys share a hash
  slot, so the read below reaches them in one script call on a cluster too.
- `feed:big` (`BIG_AUTHORS_KEY`): every such author (member id, score the
  followers counted), so a follow or rebuild knows them.

Scores are the ids' own (`kit.ids.score`): exact, and ordered like the ids,
ties included, so pages stay in id order.

How big a feed is and where fan-out stops come in as a `FeedPolicy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.cache.base import ZRange
from minifb.adapters.resilience import Unavailable
from minifb.kit.db import Database
from minifb.kit.ids import MAX_SCORE, score
from minifb.kit.pagination import encode_cursor
from minifb.models.post import Visibility
from minifb.posts import feed_repository as repo
from minifb.posts import rendering
from minifb.posts import repository as posts_repo
from minifb.posts.policy import FeedPolicy

FEED_KEY = "feed:{{u{}}}"
BIG_FOLLOWED_KEY = "feed:{{u{}}}:big"
BIG_AUTHORS_KEY = "feed:big"
COMPLETE = "*"  # its score, +inf, is above every post's (`kit.ids.MAX_SCORE`)
# Hydration may drop posts the reader may no longer see; fetching further ids
# to fill the page is bounded to this many batches per request.
MAX_BATCHES = 3
# Extra ids read on a cursor page: ids sharing the cursor's score that were
# already shown are skipped client-side, and there are rarely more than one.
_TIE_SLACK = 2
_VALUE_KEYS = [key.format(id="{}") for key in (rendering.BODY_KEY, rendering.COUNTS_KEY)]


def feed_key(user_id: int) -> str:
    return FEED_KEY.format(user_id)


def big_followed_key(user_id: int) -> str:
    return BIG_FOLLOWED_KEY.format(user_id)


# -- writing ------------------------------------------------------------------


class NewPost(NamedTuple):
    """A post to fan out, as its `post.created` event tells it."""

    id: int
    author_id: int
    visibility: Visibility


async def fan_out(
    session: AsyncSession, cache: Cache, policy: FeedPolicy, posts: Sequence[NewPost]
) -> None:
    """Add new posts to their authors' feeds and to the feed of each follower allowed to
    see them: one query for the followers of every author, one pipeline of writes.

    An author with more than `feed_fanout_limit` followers is fanned out to
    nobody but themselves: their followers merge their posts in when reading.
    """
    limit = policy.fanout_limit
    audiences = await repo.audiences(session, {p.author_id for p in posts}, cap=limit + 1)
    # Each feed's new members, by the feed's owner: a key and a member spelt once each.
    members: dict[int, dict[str, float]] = {}
    for post in posts:
        targets = {post.author_id}
        followers = audiences[post.author_id]
        if len(followers) > limit:
            await _mark_big(session, cache, post.author_id, limit + 1)
        elif post.visibility != Visibility.only_me:
            friends_only = post.visibility == Visibility.friends
            targets.update(
                follower
                for _, follower, friend, hidden in followers
                if not hidden and (friend or not friends_only)
            )
        member, at = str(post.id), score(post.id)
        for target in targets:
            owned = members.get(target)
            if owned is None:
                owned = members[target] = {}
            owned[member] = at
    writes = {feed_key(target): owned for target, owned in members.items()}
    await cache.zadd_many(writes, keep=policy.size + 1)


async def _mark_big(session: AsyncSession, cache: Cache, author_id: int, followers: int) -> None:
    # Once per author: tell every follower's feed to merge this author in from
    # now on. Marks stay if the author later falls below the limit, so the
    # posts they made meanwhile are still merged (duplicates are dropped).
    if await cache.zscore(BIG_AUTHORS_KEY, str(author_id)) is not None:
        return
    mark = {str(author_id): score(author_id)}
    everyone = await repo.followers(session, author_id)
    await cache.zadd_many({big_followed_key(f): mark for f in everyone})
    await cache.zadd(BIG_AUTHORS_KEY, {str(author_id): float(followers)})


async def add_author(
    session: AsyncSession, cache: Cache, policy: FeedPolicy, viewer_id: int, author_id: int
) -> None:
    """`viewer_id` now follows (or befriended) `author_id`: backfill their recent visible posts.

    Feeds that are not complete are left alone: their rebuild will read them.
    """
    if await cache.zscore(feed_key(viewer_id), COMPLETE) is None:
        return
    if await cache.zscore(BIG_AUTHORS_KEY, str(author_id)) is not None:
        mark = {str(author_id): score(author_id)}
        await cache.zadd(big_followed_key(viewer_id), mark)
        return
    ids = await repo.posts_of(session, [author_id], viewer_id=viewer_id, limit=policy.size)
    members = {str(i): score(i) for i in ids}
    await cache.zadd_many({feed_key(viewer_id): members}, keep=policy.size + 1)


async def drop_author(
    session: AsyncSession, cache: Cache, policy: FeedPolicy, viewer_id: int, author_id: int
) -> None:
    """`viewer_id` no longer follows or may no longer see `author_id`: take their posts out."""
    await cache.zrem(big_followed_key(viewer_id), str(author_id))
    ids = await repo.posts_of(session, [author_id], viewer_id=None, limit=policy.size)
    if ids:
        await cache.zrem(feed_key(viewer_id), *(str(i) for i in ids))


async def rebuild(
    session: AsyncSession, cache: Cache, policy: FeedPolicy, viewer_id: int
) -> tuple[list[int], list[int]]:
    """Build a feed from the database; returns (its post ids newest first, big authors).

    Merges into what fan-out may have added meanwhile instead of replacing
    it, so a post fanned out while this ran is not lost.
    """
    ids = await repo.feed_ids(session, viewer_id, limit=policy.size)
    big = [int(m) for m, _ in await cache.zrange_by_score(BIG_AUTHORS_KEY)]
    authors = await repo.followed_among(session, viewer_id, big, limit=policy.merge_authors)
    members = {str(i): score(i) for i in ids}
    members[COMPLETE] = math.inf
    items = {feed_key(viewer_id): members}
    if authors:
        items[big_followed_key(viewer_id)] = {str(a): score(a) for a in authors}
    await cache.zadd_many(items, keep=policy.size + 1)
    return ids, authors


# -- reading ------------------------------------------------------------------


@dataclass
class _Window:
    """The next ids of a feed after a position, with the cached posts they name."""

    ids: list[int]
    cached: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    authors: list[int] = field(default_factory=list)


async def read_feed(
    db: Database,
    cache: Cache,
    policy: FeedPolicy,
    viewer_id: int,
    *,
    after: int | None,
    limit: int,
) -> bytes:
    """A page of the viewer's feed as JSON bytes: `{"items": [post...], "next_cursor"}`.

    Newest first, posts older than `after` when given. Posts the viewer may no
    longer see are dropped and further ids read instead (up to `MAX_BATCHES`
    batches), so a page is full whenever enough visible posts remain. Warm,
    this costs one cache round trip and the one query of the viewer's ties,
    run outside any transaction; a session is opened only for the cold steps.
    With the cache down the page is read from the database, as a rebuild would
    (DESIGN §8), and nothing is cached.
    """
    try:
        return await _read_cached(db, cache, policy, viewer_id, after=after, limit=limit)
    except Unavailable:
        async with db.transaction() as session:
            ids = await repo.feed_ids(session, viewer_id, before=after, limit=limit + 1)
            items = await rendering.render_posts(
                session, cache, viewer_id, ids[:limit], use_cache=False
            )
        more = len(ids) > limit
        return rendering.page_body(items, encode_cursor(ids[limit - 1]) if more else None)


async def _read_cached(
    db: Database,
    cache: Cache,
    policy: FeedPolicy,
    viewer_id: int,
    *,
    after: int | None,
    limit: int,
) -> bytes:
    items: list[bytes] = []
    before = after
    authors: list[int] | None = None  # learnt on the first read of this request
    more = False
    for _ in range(MAX_BATCHES):
        want = limit - len(items)
        window = await _window(db, cache, policy, viewer_id, before, want + 1, authors)
        authors = window.authors
        batch = window.ids[:want]
        more = len(window.ids) > want
        if not batch:
            break
        items += await _render(db, cache, viewer_id, batch, window.cached)
        before = batch[-1]
        if len(items) == limit or not more:
            break
    return rendering.page_body(
        items, encode_cursor(before) if more and before is not None else None
    )


async def _window(
    db: Database,
    cache: Cache,
    policy: FeedPolicy,
    viewer_id: int,
    before: int | None,
    count: int,
    authors: list[int] | None,
) -> _Window:
    """Up to `count` ids older than `before`, from the feed and the merged big authors."""
    window = await _read(cache, policy, viewer_id, before, count, head=authors is None)
    if window is None:  # not complete: build it, then page the fresh ids
        async with db.transaction() as session:
            ids, authors = await rebuild(session, cache, policy, viewer_id)
        window = _Window([i for i in ids if before is None or i < before][:count])
    elif authors is None:
        authors = window.authors
    window.authors = authors
    if authors:
        merged = await repo.visible_posts_of(
            db, authors, viewer_id=viewer_id, before=before, limit=count
        )
        window.ids = sorted(set(window.ids).union(merged), reverse=True)[:count]
    return window


async def _read(
    cache: Cache,
    policy: FeedPolicy,
    viewer_id: int,
    before: int | None,
    count: int,
    *,
    head: bool,
) -> _Window | None:
    """One cache round trip: the ids, their cached posts and, with `head`, whether the feed is
    complete (None when not) and its big authors."""
    key = feed_key(viewer_id)
    top = MAX_SCORE if before is None else score(before)
    slack = 0 if before is None else _TIE_SLACK
    while True:
        ranges = [ZRange(key, max=top, reverse=True, limit=count + slack)]
        if head:
            ranges += [
                ZRange(key, min=math.inf),
                ZRange(big_followed_key(viewer_id), limit=policy.merge_authors),
            ]
        found = await cache.zread(ranges, values_of=0, value_keys=_VALUE_KEYS)
        if head and not found.ranges[1]:
            return None
        rows = found.ranges[0]
        window = _Window([])
        for n, (member, _) in enumerate(rows):
            post_id = int(member)
            if before is not None and post_id >= before:
                continue  # shown on an earlier page (same score as the cursor)
            window.ids.append(post_id)
            body, counts = found.values[2 * n], found.values[2 * n + 1]
            if body is not None and counts is not None:
                window.cached[post_id] = (body, counts)
        if head:
            window.authors = [int(m) for m, _ in found.ranges[2]]
        # Only when many ids tie with the cursor did the slack run out: read further.
        if len(window.ids) >= count or len(rows) < count + slack:
            window.ids = window.ids[:count]
            return window
        slack = slack * 8 + count


async def _render(
    db: Database,
    cache: Cache,
    viewer_id: int,
    post_ids: Sequence[int],
    cached: dict[int, tuple[bytes, bytes]],
) -> list[bytes]:
    """`rendering.render_posts` for ids whose posts came with the ids (no second cache trip).

    When any is missing from the cache, `rendering.render_posts` does it all
    (and fills the cache). Otherwise the same steps as there, on the blobs in
    hand: one query for the viewer's reactions, ties with the authors and the
    posts' visibility now. A cached body the database contradicts (it missed
    its invalidation) sends the batch the long way too, which reads it afresh.
    """
    if any(i not in cached for i in post_ids):
        async with db.transaction() as session:
            return await rendering.render_posts(session, cache, viewer_id, post_ids)
    meta: dict[int, tuple[int, str]] = {}
    for post_id in post_ids:
        meta[post_id] = rendering.meta_of(cached[post_id][0])
    authors = {author for author, _ in meta.values()} - {viewer_id}
    now = await posts_repo.viewer_context_direct(db, viewer_id, people=authors, post_ids=post_ids)
    if rendering.stale(now, post_ids, meta):
        async with db.transaction() as session:
            return await rendering.render_posts(session, cache, viewer_id, post_ids)
    # The same bytes as `rendering.render_posts` gives (tests/posts/test_feed.py
    # compares the feed's items with GET /posts/{id} byte for byte).
    return [
        rendering.splice(*cached[i], now.reactions.get(i))
        for i in post_ids
        if rendering.shown(now, viewer_id, i, meta[i][0])
    ]
