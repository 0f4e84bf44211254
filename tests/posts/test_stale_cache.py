"""A cached post that missed its invalidation never widens who sees it.

The cache can lose a write: Redis stalls while a post is made `only_me`, the
delete after the commit times out, and the old body (public) stays for its
TTL. Each test here puts exactly that stale body back into the cache after the
change and reads as the people the change excludes: every read path answers
from what the database holds. The same tests run on the in-process cache and
on Redis (`MINIFB_TEST_REDIS_URL`).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.cache import Cache
from minifb.posts import feed, rendering
from tests.factories import Person, befriend, create_post, follow, register
from tests.fixtures.events import settle
from tests.fixtures.http import API


def cache_of(app: FastAPI) -> Cache:
    cache: Cache = app.state.container.cache
    return cache


async def cached_parts(app: FastAPI, post_id: str) -> dict[str, bytes]:
    """The post's cache entries as they are now (both must be there)."""
    keys = rendering.post_keys(int(post_id))
    values = await cache_of(app).get_many(keys)
    assert all(v is not None for v in values), "the read before should have cached the post"
    return {k: v for k, v in zip(keys, values, strict=True) if v is not None}


async def restore(app: FastAPI, parts: dict[str, bytes]) -> None:
    """Put old entries back, as if the invalidation of a change had been lost."""
    await cache_of(app).set_many(parts, ttl=rendering.CACHE_TTL)


async def read_everywhere(
    client: httpx.AsyncClient, who: Person, author: Person, post_id: str
) -> tuple[int, list[str], list[str]]:
    """(status of GET /posts/{id}, ids in the reader's feed, ids on the author's timeline)."""
    single = await client.get(f"{API}/posts/{post_id}", headers=who.headers)
    page = await client.get(f"{API}/feed", headers=who.headers)
    timeline = await client.get(f"{API}/users/{author.id}/posts", headers=who.headers)
    assert page.status_code == 200, page.text
    assert timeline.status_code == 200, timeline.text
    return (
        single.status_code,
        [p["id"] for p in page.json()["items"]],
        [p["id"] for p in timeline.json()["items"]],
    )


@pytest.fixture
async def trio(client: httpx.AsyncClient, app: FastAPI) -> tuple[Person, Person, Person]:
    """An author, a friend and a follower who is no friend; both follow the author."""
    author, friend, follower = [await register(client) for _ in range(3)]
    await befriend(client, author, friend)
    await follow(client, follower, author)
    await settle(app)
    return author, friend, follower


async def public_post_seen_by_all(
    client: httpx.AsyncClient, app: FastAPI, trio: tuple[Person, Person, Person]
) -> tuple[str, dict[str, bytes]]:
    """A public post every one of the trio has read (so its parts are cached)."""
    author = trio[0]
    post_id = str((await create_post(client, author, "for everyone"))["id"])
    await settle(app)
    for who in trio:
        status, in_feed, on_timeline = await read_everywhere(client, who, author, post_id)
        assert status == 200
        assert post_id in in_feed
        assert post_id in on_timeline
    return post_id, await cached_parts(app, post_id)


async def changed_behind_a_stale_cache(
    client: httpx.AsyncClient,
    app: FastAPI,
    trio: tuple[Person, Person, Person],
    change: dict[str, str] | None,
) -> str:
    """A public post everyone read, then PATCHed with `change` (deleted when None) by its
    author, with its old cache entries put back: the lost invalidation. Returns its id."""
    author = trio[0]
    post_id, stale = await public_post_seen_by_all(client, app, trio)
    if change is None:
        answer = await client.delete(f"{API}/posts/{post_id}", headers=author.headers)
        assert answer.status_code == 204, answer.text
    else:
        answer = await client.patch(f"{API}/posts/{post_id}", json=change, headers=author.headers)
        assert answer.status_code == 200, answer.text
    await restore(app, stale)
    return post_id


class TestNarrowedVisibility:
    @pytest.mark.parametrize("visibility", ["only_me", "friends"])
    async def test_a_stale_public_body_is_not_shown_to_whom_the_change_excludes(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        trio: tuple[Person, Person, Person],
        visibility: str,
    ) -> None:
        author, friend, follower = trio
        post_id = await changed_behind_a_stale_cache(client, app, trio, {"visibility": visibility})
        excluded = [follower] if visibility == "friends" else [friend, follower]
        for who in excluded:
            status, in_feed, on_timeline = await read_everywhere(client, who, author, post_id)
            assert status == 404
            assert post_id not in in_feed
            assert post_id not in on_timeline

    async def test_those_still_allowed_see_the_new_visibility_not_the_cached_one(
        self, client: httpx.AsyncClient, app: FastAPI, trio: tuple[Person, Person, Person]
    ) -> None:
        author, friend, _ = trio
        post_id = await changed_behind_a_stale_cache(client, app, trio, {"visibility": "friends"})
        for who in (author, friend):
            single = await client.get(f"{API}/posts/{post_id}", headers=who.headers)
            assert single.json()["visibility"] == "friends"
            page = await client.get(f"{API}/feed", headers=who.headers)
            (item,) = [p for p in page.json()["items"] if p["id"] == post_id]
            assert item["visibility"] == "friends"


class TestDeleted:
    async def test_a_stale_body_of_a_deleted_post_is_shown_to_nobody(
        self, client: httpx.AsyncClient, app: FastAPI, trio: tuple[Person, Person, Person]
    ) -> None:
        author = trio[0]
        post_id = await changed_behind_a_stale_cache(client, app, trio, None)
        for who in trio:
            status, in_feed, on_timeline = await read_everywhere(client, who, author, post_id)
            assert status == 404
            assert post_id not in in_feed
            assert post_id not in on_timeline


class TestInvalidationRetried:
    async def test_the_feed_consumer_drops_the_cached_post_on_its_update_event(
        self, client: httpx.AsyncClient, app: FastAPI, trio: tuple[Person, Person, Person]
    ) -> None:
        # The writer's own delete after the commit was lost; the post.updated
        # event, retried by the bus until handled, removes the stale entries.
        post_id = await changed_behind_a_stale_cache(client, app, trio, {"text": "edited"})
        await settle(app)
        assert await cache_of(app).get_many(rendering.post_keys(int(post_id))) == [None, None]
        single = await client.get(f"{API}/posts/{post_id}", headers=trio[2].headers)
        assert single.json()["text"] == "edited"

    async def test_and_on_its_delete_event(
        self, client: httpx.AsyncClient, app: FastAPI, trio: tuple[Person, Person, Person]
    ) -> None:
        author = trio[0]
        post_id = await changed_behind_a_stale_cache(client, app, trio, None)
        await settle(app)
        assert await cache_of(app).get_many(rendering.post_keys(int(post_id))) == [None, None]
        own_feed = await cache_of(app).zscore(feed.feed_key(int(author.id)), post_id)
        assert own_feed is None
