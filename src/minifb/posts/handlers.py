"""Event consumers of the posts service: the news feed, and cached posts kept in step.

One consumer, `feed`, handles every event that changes what a feed holds or
what a cached post shows (its author's card, an edit, a deletion);
`kit.outbox.idempotent` makes each event count once however often it arrives.
Cache writes are themselves idempotent (adding or removing the same ids), so
a handler that fails after writing and is retried does no harm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.events import Event, EventBus
from minifb.kit.db import Database
from minifb.kit.outbox import consume_in_batches
from minifb.models.post import Visibility
from minifb.posts import feed, rendering
from minifb.posts import repository as repo
from minifb.posts.policy import FeedPolicy

CONSUMER = "feed"
# What a post's cached body shows of its author.
CARD_FIELDS = frozenset({"username", "display_name", "avatar_url"})
Effect = Callable[[AsyncSession, Event], Awaitable[None]]


def _effects(cache: Cache, policy: FeedPolicy) -> dict[str, Effect]:
    """What each event but `post.created` does (new posts are fanned out together)."""

    async def post_updated(session: AsyncSession, event: Event) -> None:
        # The writer dropped the cached post once it committed; if the cache
        # missed that (stalled, unreachable), this retry makes it happen. Readers
        # never serve a visibility the database no longer holds meanwhile.
        await cache.delete(*rendering.post_keys(int(event.data["post_id"])))

    async def post_deleted(session: AsyncSession, event: Event) -> None:
        # Other feeds keep the id until it falls off: reading drops a missing
        # post, and removing it would cost a round trip per follower.
        author = int(event.data["author_id"])
        await cache.zrem(feed.feed_key(author), event.data["post_id"])
        await cache.delete(*rendering.post_keys(int(event.data["post_id"])))

    async def followed(session: AsyncSession, event: Event) -> None:
        follower, followee = int(event.data["follower_id"]), int(event.data["followee_id"])
        await feed.add_author(session, cache, policy, follower, followee)

    async def unfollowed(session: AsyncSession, event: Event) -> None:
        follower, followee = int(event.data["follower_id"]), int(event.data["followee_id"])
        await feed.drop_author(session, cache, policy, follower, followee)

    async def befriended(session: AsyncSession, event: Event) -> None:
        # Befriending follows both ways without a follow.created of its own.
        a, b = int(event.data["from_user_id"]), int(event.data["to_user_id"])
        await feed.add_author(session, cache, policy, a, b)
        await feed.add_author(session, cache, policy, b, a)

    async def unfriended(session: AsyncSession, event: Event) -> None:
        # Unfriending ends the follows both ways too.
        a, b = int(event.data["user_id"]), int(event.data["friend_id"])
        await feed.drop_author(session, cache, policy, a, b)
        await feed.drop_author(session, cache, policy, b, a)

    async def blocked(session: AsyncSession, event: Event) -> None:
        a, b = int(event.data["blocker_id"]), int(event.data["blocked_id"])
        await feed.drop_author(session, cache, policy, a, b)
        await feed.drop_author(session, cache, policy, b, a)

    async def profile_updated(session: AsyncSession, event: Event) -> None:
        # Cached bodies carry the author's card. The newest posts are the ones
        # feeds show; an older body still cached expires within the cache TTL.
        if not CARD_FIELDS.intersection(event.data.get("fields", ())):
            return
        author = int(event.data["user_id"])
        newest = await repo.timeline_ids(
            session, author, visible=None, before=None, limit=policy.size
        )
        await rendering.drop_bodies(cache, newest)

    return {
        "user.updated": profile_updated,
        "post.updated": post_updated,
        "post.deleted": post_deleted,
        "follow.created": followed,
        "follow.deleted": unfollowed,
        "friend.accepted": befriended,
        "friend.removed": unfriended,
        "block.created": blocked,
    }


def new_post(event: Event) -> feed.NewPost:
    data = event.data
    return feed.NewPost(
        int(data["post_id"]), int(data["author_id"]), Visibility(data["visibility"])
    )


def register(bus: EventBus, db: Database, *, cache: Cache, policy: FeedPolicy) -> None:
    """Subscribe the feed consumer to `bus`, in batches; each event is handled once, a
    batch in a transaction of `db` (`workers.registry` wires it).

    New posts, most of what the consumer sees, are fanned out together: a run of
    `post.created` in a batch costs one query and one pipeline. The other
    events are handled one by one in their place, so a feed sees the changes
    in the order they were made.
    """
    effects = _effects(cache, policy)

    async def dispatch(session: AsyncSession, events: Sequence[Event]) -> None:
        new_posts: list[feed.NewPost] = []
        for event in events:
            if event.type == "post.created":
                new_posts.append(new_post(event))
                continue
            if new_posts:
                await feed.fan_out(session, cache, policy, new_posts)
                new_posts = []
            await effects[event.type](session, event)
        if new_posts:
            await feed.fan_out(session, cache, policy, new_posts)

    types = ["post.created", *effects]
    consume_in_batches(bus, db, CONSUMER, types, dispatch)
