"""GET /feed as ties change: follows, friendships, blocks, big authors, and the visibility matrix.

Helpers come from `test_feed.py`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from minifb.posts import feed
from tests.factories import Person, befriend
from tests.factories import register_many as people
from tests.fixtures.events import settle
from tests.posts.test_feed import (
    all_feed_ids,
    cache_of,
    delete,
    feed_ids,
    newest_first,
    post,
    put,
    read,
    stored,
)


class TestRelationships:
    async def _ready(self, app: FastAPI, client: httpx.AsyncClient, *readers: Person) -> None:
        for reader in readers:  # build the feeds, so the changes below apply to them
            await read(client, reader)
        await settle(app)

    async def test_unfollow_takes_the_posts_out(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, other, reader = await people(client, 3)
        await self._ready(app, client, reader)
        await put(client, f"/users/{author.id}/follow", reader)
        await put(client, f"/users/{other.id}/follow", reader)
        gone, kept = await post(client, author), await post(client, other)
        await settle(app)
        assert await feed_ids(client, reader) == [kept, gone]
        await delete(client, f"/users/{author.id}/follow", reader)
        await settle(app)
        assert await stored(app, reader) == [kept]
        assert await feed_ids(client, reader) == [kept]

    async def test_unfriend_takes_the_posts_out_both_ways(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        alice, bob = await people(client, 2)
        await self._ready(app, client, alice, bob)
        await befriend(client, alice, bob)
        a, b = await post(client, alice, visibility="friends"), await post(client, bob)
        await settle(app)
        assert await feed_ids(client, alice) == [b, a]
        assert await feed_ids(client, bob) == [b, a]
        await delete(client, f"/friends/{bob.id}", alice)
        await settle(app)
        assert await stored(app, alice) == [a]
        assert await stored(app, bob) == [b]

    @pytest.mark.parametrize("blocker", ["author", "reader"])
    async def test_a_block_takes_the_posts_out_both_ways(
        self, app: FastAPI, client: httpx.AsyncClient, blocker: str
    ) -> None:
        author, reader = await people(client, 2)
        await self._ready(app, client, author, reader)
        await befriend(client, author, reader)
        a, r = await post(client, author), await post(client, reader)
        await settle(app)
        assert await feed_ids(client, reader) == [r, a]
        first, second = (author, reader) if blocker == "author" else (reader, author)
        await put(client, f"/users/{second.id}/block", first)
        await settle(app)
        assert await stored(app, reader) == [r]
        assert await stored(app, author) == [a]
        assert await feed_ids(client, reader) == [r]

    async def test_a_follow_backfills_the_visible_posts(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        public = await post(client, author, "public")
        await post(client, author, "friends", "friends")
        await post(client, author, "private", "only_me")
        await self._ready(app, client, reader)
        assert await feed_ids(client, reader) == []
        await put(client, f"/users/{author.id}/follow", reader)
        await settle(app)
        assert await stored(app, reader) == [public]

    async def test_a_new_friend_backfills_friends_posts_both_ways(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        alice, bob = await people(client, 2)
        a = [await post(client, alice, "a1"), await post(client, alice, "a2", "friends")]
        b = [await post(client, bob, "b1", "friends")]
        private = await post(client, bob, "private", "only_me")
        await self._ready(app, client, alice, bob)
        await befriend(client, alice, bob)
        await settle(app)
        assert await feed_ids(client, alice) == newest_first(a + b)
        assert await feed_ids(client, bob) == newest_first([*a, *b, private])


class TestBigAuthors:
    """Authors with more than `feed_fanout_limit` followers are merged in when reading."""

    async def test_their_posts_are_merged_in_order_across_pages(self, make_client: Any) -> None:
        app, client = await make_client(feed_fanout_limit=2)
        star, small, reader, fan1, fan2 = await people(client, 5)
        for fan in (reader, fan1, fan2):
            await put(client, f"/users/{star.id}/follow", fan)
        await put(client, f"/users/{small.id}/follow", reader)
        # The follows' backfill done first: handled after the star's first posts, it
        # would copy them into the reader's feed before the star is known as big.
        await settle(app)
        await read(client, reader)
        expected = []
        for n in range(5):
            expected.append(await post(client, star, f"star {n}"))
            expected.append(await post(client, small, f"small {n}"))
            expected.append(await post(client, reader, f"mine {n}"))
            await post(client, star, f"star private {n}", "only_me")
        await settle(app)
        # Not fanned out to followers, only to the star's own feed.
        assert not set(await stored(app, reader)) & set(expected[::3])
        assert len(await stored(app, star)) == 10
        for limit in (1, 2, 4, 20):
            assert await all_feed_ids(client, reader, limit=limit) == newest_first(expected)
        # A rebuilt feed merges them in as well.
        await cache_of(app).delete(feed.feed_key(int(reader.id)))
        await cache_of(app).delete(feed.big_followed_key(int(reader.id)))
        assert await all_feed_ids(client, reader, limit=3) == newest_first(expected)

    async def test_follow_and_unfollow_of_a_big_author(self, make_client: Any) -> None:
        app, client = await make_client(feed_fanout_limit=2)
        star, reader, fan1, fan2, fan3 = await people(client, 5)
        for fan in (fan1, fan2, fan3):
            await put(client, f"/users/{star.id}/follow", fan)
        starred = await post(client, star, "big now")
        await settle(app)
        assert await feed_ids(client, fan1) == [starred]
        assert await feed_ids(client, reader) == []
        await put(client, f"/users/{star.id}/follow", reader)
        await settle(app)
        assert await feed_ids(client, reader) == [starred]
        later = await post(client, star, "later")
        await settle(app)
        assert await feed_ids(client, reader) == [later, starred]
        await delete(client, f"/users/{star.id}/follow", reader)
        await settle(app)
        assert await feed_ids(client, reader) == []


# The feed's own visibility matrix (tests/posts/test_visibility_matrix.py did not
# exist yet): who finds an author's post in their feed, by tie and visibility.
# A post made after the ties goes through fan-out; one made before, through a rebuild.
SEES = {
    "author": {"public", "friends", "only_me"},
    "friend": {"public", "friends"},
    "follower": {"public"},
    "stranger": set(),
    "blocked": set(),  # the author blocked the viewer, who had followed them
    "blocking": set(),  # the viewer blocked the author, whom they had followed
}


class TestVisibilityMatrix:
    @pytest.mark.parametrize("path", ["fan-out", "rebuild"])
    @pytest.mark.parametrize("tie", list(SEES))
    async def test_who_finds_what_in_their_feed(
        self, app: FastAPI, client: httpx.AsyncClient, tie: str, path: str
    ) -> None:
        author, viewer = await people(client, 2)
        reader = author if tie == "author" else viewer
        if tie == "friend":
            await befriend(client, author, viewer)
        elif tie != "stranger" and tie != "author":
            await put(client, f"/users/{author.id}/follow", viewer)
        if path == "fan-out":
            await read(client, reader)
        if tie == "blocked":
            await put(client, f"/users/{viewer.id}/block", author)
        elif tie == "blocking":
            await put(client, f"/users/{author.id}/block", viewer)
        posted = {v: await post(client, author, v, v) for v in ("public", "friends", "only_me")}
        await settle(app)
        if path == "rebuild":
            await cache_of(app).delete(feed.feed_key(int(reader.id)))
        expected = newest_first([posted[v] for v in SEES[tie]])
        assert await feed_ids(client, reader) == expected
        assert await stored(app, reader) == expected
