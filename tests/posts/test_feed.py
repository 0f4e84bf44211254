"""GET /feed: fan-out on write, paging, rebuilds, relationship changes, big authors.

Fan-out is asynchronous (outbox -> bus -> the `feed` consumer); `settle`
waits for it deterministically. The same tests run on the in-process cache
and on Redis (`MINIFB_TEST_REDIS_URL`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from minifb.adapters.cache import Cache
from minifb.adapters.events import Event
from minifb.kit import dead_letters
from minifb.kit.ids import MAX_SCORE
from minifb.models import Follow, OutboxEvent, ProcessedEvent
from minifb.posts import feed, handlers, rendering
from tests.factories import Person, befriend, create_post
from tests.factories import register_many as people
from tests.fixtures.events import settle
from tests.fixtures.http import API
from tests.fixtures.queries import QueryLog


def cache_of(app: FastAPI) -> Cache:
    cache: Cache = app.state.container.cache
    return cache


async def post(
    client: httpx.AsyncClient, author: Person, text: str = "hello", visibility: str = "public"
) -> str:
    """Publish a post and return its id."""
    return str((await create_post(client, author, text, visibility=visibility))["id"])


async def read(client: httpx.AsyncClient, who: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/feed", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def feed_ids(client: httpx.AsyncClient, who: Person, **params: Any) -> list[str]:
    return [item["id"] for item in (await read(client, who, **params))["items"]]


async def all_feed_ids(client: httpx.AsyncClient, who: Person, *, limit: int) -> list[str]:
    """Every id of a feed, following cursors page by page."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = await read(client, who, **params)
        assert len(body["items"]) <= limit
        found += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def stored(app: FastAPI, who: Person) -> list[str]:
    """The post ids in someone's cached feed, newest first (without the completeness mark)."""
    rows = await cache_of(app).zrange_by_score(
        feed.feed_key(int(who.id)), max=MAX_SCORE, reverse=True
    )
    return [member for member, _ in rows]


async def put(client: httpx.AsyncClient, path: str, who: Person) -> None:
    response = await client.put(f"{API}{path}", headers=who.headers)
    assert response.status_code == 204, response.text


async def delete(client: httpx.AsyncClient, path: str, who: Person) -> None:
    response = await client.delete(f"{API}{path}", headers=who.headers)
    assert response.status_code == 204, response.text


def newest_first(ids: list[str]) -> list[str]:
    return sorted(ids, key=int, reverse=True)


class TestFanOut:
    async def test_followers_and_the_author_get_a_public_post(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, follower, stranger = await people(client, 3)
        await put(client, f"/users/{author.id}/follow", follower)
        first = await post(client, author, "first")
        second = await post(client, author, "second")
        await settle(app)
        assert await stored(app, follower) == [second, first]
        assert await stored(app, author) == [second, first]
        assert await stored(app, stranger) == []
        assert await feed_ids(client, follower) == [second, first]
        assert await feed_ids(client, author) == [second, first]
        assert await feed_ids(client, stranger) == []

    async def test_items_are_the_posts_as_the_reader_sees_them(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        post_id = await post(client, author, "with a reaction")
        reaction = await client.put(
            f"{API}/posts/{post_id}/reaction", json={"type": "love"}, headers=reader.headers
        )
        assert reaction.status_code in (200, 201, 204), reaction.text
        await settle(app)
        single = await client.get(f"{API}/posts/{post_id}", headers=reader.headers)
        for _ in range(2):  # cold, then from the post cache
            page = await client.get(f"{API}/feed", headers=reader.headers)
            # The same bytes: the feed splices the very JSON a single post answers.
            assert page.content == b'{"items":[' + single.content + b'],"next_cursor":null}'
            body = await read(client, reader)
            assert body == {"items": [single.json()], "next_cursor": None}
            assert body["items"][0]["viewer_reaction"] == "love"

    async def test_friends_posts_reach_friends_only_and_only_me_nobody(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, friend, follower = await people(client, 3)
        await befriend(client, author, friend)
        await put(client, f"/users/{author.id}/follow", follower)
        public = await post(client, author, visibility="public")
        friends = await post(client, author, visibility="friends")
        private = await post(client, author, visibility="only_me")
        await settle(app)
        assert await stored(app, friend) == [friends, public]
        assert await stored(app, follower) == [public]
        assert await stored(app, author) == [private, friends, public]

    async def test_the_consumer_is_idempotent(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, follower = await people(client, 2)
        assert await feed_ids(client, follower) == []  # built: later changes apply to it
        await put(client, f"/users/{author.id}/follow", follower)
        post_id = await post(client, author)
        await settle(app)
        await delete(client, f"/users/{author.id}/follow", follower)
        await settle(app)
        assert await stored(app, follower) == []
        await put(client, f"/users/{author.id}/follow", follower)
        await settle(app)
        assert await stored(app, follower) == [post_id]
        # The bus delivers at least once: the old follow.deleted arriving again changes nothing.
        async with app.state.container.db.transaction() as session:
            row = await session.scalar(
                select(OutboxEvent).where(OutboxEvent.type == "follow.deleted")
            )
            assert row is not None
            event = Event(row.id, row.type, row.occurred_at, row.actor_id, dict(row.data))
        await app.state.container.bus.publish(event)
        await settle(app)
        assert await stored(app, follower) == [post_id]


async def replay_posts(app: FastAPI) -> list[Event]:
    """The `post.created` events of the outbox, as the feed consumer had never seen them:
    its handled marks gone, and the feeds too."""
    container = app.state.container
    async with container.db.transaction() as session:
        rows = (
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.type == "post.created")
                .order_by(OutboxEvent.id)
            )
        ).all()
        await session.execute(
            sa_delete(ProcessedEvent).where(ProcessedEvent.consumer == handlers.CONSUMER)
        )
        sent = [Event(r.id, r.type, r.occurred_at, r.actor_id, dict(r.data)) for r in rows]
    people_ids = {int(e.data["author_id"]) for e in sent}
    async with container.db.transaction() as session:
        people_ids.update(await session.scalars(select(Follow.follower_id)))
    await cache_of(app).delete(*(feed.feed_key(p) for p in people_ids))
    return sent


async def posts_to_replay(
    app: FastAPI, client: httpx.AsyncClient, count: int
) -> tuple[Person, list[Event]]:
    """A follower of someone who posted `count` times, and those posts' events to replay."""
    author, follower = await people(client, 2)
    await put(client, f"/users/{author.id}/follow", follower)
    for n in range(count):
        await post(client, author, f"post {n}")
    await settle(app)
    return follower, await replay_posts(app)


@pytest.mark.own_consumers("counts the statements and cache calls of the app's own consumer")
class TestBatchedFanOut:
    """The consumer takes new posts in batches: a batch costs one query for every author's
    followers, one insert of the handled marks and one pipeline of cache writes."""

    @pytest.fixture
    def recording(
        self, app: FastAPI, queries: QueryLog, monkeypatch: pytest.MonkeyPatch
    ) -> Callable[[], AbstractContextManager[CacheCalls]]:
        """Opens a block whose statements `queries` keeps and whose cache calls it counts."""

        @contextlib.contextmanager
        def block() -> Iterator[CacheCalls]:
            calls = CacheCalls(monkeypatch, cache_of(app))
            queries.recording = True
            try:
                yield calls
            finally:
                queries.recording = False

        return block

    async def test_a_batch_of_posts_costs_one_query_one_insert_one_pipeline(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        queries: QueryLog,
        recording: Callable[[], AbstractContextManager[CacheCalls]],
    ) -> None:
        ann, bob, friend, follower, both = await people(client, 5)
        await befriend(client, ann, friend)
        for author in (ann, bob):
            await put(client, f"/users/{author.id}/follow", follower)
            await put(client, f"/users/{author.id}/follow", both)
        made = {
            visibility: [await post(client, author, visibility=visibility) for author in (ann, bob)]
            for visibility in ("public", "friends", "only_me")
        }
        await settle(app)
        expected = {who.id: await stored(app, who) for who in (ann, bob, friend, follower, both)}
        sent = await replay_posts(app)
        assert len(sent) == 6

        with recording() as calls:
            await app.state.container.bus.publish_many(sent)  # waiting together: one batch
            await settle(app)

        assert {who.id: await stored(app, who) for who in (ann, bob, friend, follower, both)} == (
            expected
        )
        assert expected[follower.id] == newest_first(made["public"])
        assert expected[friend.id] == newest_first([made["public"][0], made["friends"][0]])
        follows = [s for s in queries.selects() if "FROM follows" in s]
        marks = queries.with_parameter("INSERT INTO processed_events", handlers.CONSUMER)
        assert len(follows) == 1, follows
        assert len(marks) == 1, marks
        assert calls.calls.count("zadd_many") == 1, calls.calls

    async def test_a_batch_delivered_again_has_no_second_effect(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        queries: QueryLog,
        recording: Callable[[], AbstractContextManager[CacheCalls]],
    ) -> None:
        follower, sent = await posts_to_replay(app, client, 5)
        bus = app.state.container.bus
        await bus.publish_many(sent)
        await settle(app)
        before = await stored(app, follower)
        assert len(before) == 5

        with recording() as calls:
            for _ in range(2):
                await bus.publish_many(sent)
                await settle(app)
        assert await stored(app, follower) == before
        assert "zadd_many" not in calls.calls  # each was handled: nothing written again
        assert not [s for s in queries.selects() if "FROM follows" in s]

    async def test_a_bad_event_in_a_batch_is_parked_and_the_others_go_through(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        follower, sent = await posts_to_replay(app, client, 3)
        bad = Event(sent[1].id, sent[1].type, sent[1].occurred_at, sent[1].actor_id, {})
        await app.state.container.bus.publish_many([sent[0], bad, sent[2]])
        await settle(app)
        assert await stored(app, follower) == newest_first(
            [str(sent[0].data["post_id"]), str(sent[2].data["post_id"])]
        )
        parked = await dead_letters.list_parked(app.state.container.db)
        assert [(letter.consumer, letter.event_id) for letter in parked] == [
            (handlers.CONSUMER, bad.id)
        ]


class TestPaging:
    async def test_pages_newest_first_with_cursors(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        posted = [await post(client, author, f"post {n}") for n in range(25)]
        await settle(app)
        assert await all_feed_ids(client, reader, limit=10) == newest_first(posted)
        assert await all_feed_ids(client, reader, limit=1) == newest_first(posted)
        assert len(await feed_ids(client, reader)) == 20  # the default page
        last = await read(client, reader, limit=25)
        assert last["next_cursor"] is None

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 101}, {"cursor": "nope"}, {"limit": "x"}]
    )
    async def test_refuses_bad_parameters(
        self, client: httpx.AsyncClient, params: dict[str, Any]
    ) -> None:
        (reader,) = await people(client, 1)
        response = await client.get(f"{API}/feed", headers=reader.headers, params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(f"{API}/feed")).status_code == 401

    @pytest.mark.parametrize("header", ["Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"])
    async def test_refuses_a_bad_token(self, client: httpx.AsyncClient, header: str) -> None:
        response = await client.get(f"{API}/feed", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_refuses_the_token_of_an_ended_login(self, client: httpx.AsyncClient) -> None:
        (reader,) = await people(client, 1)
        assert (await client.get(f"{API}/feed", headers=reader.headers)).status_code == 200
        await client.post(f"{API}/auth/logout", json={"refresh_token": reader.refresh_token})
        assert (await client.get(f"{API}/feed", headers=reader.headers)).status_code == 401

    async def test_a_page_is_full_when_hidden_posts_are_dropped(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        posted = [await post(client, author, f"post {n}") for n in range(12)]
        await settle(app)
        # Made private after fan-out: still in the feed, no longer visible.
        hidden = set(posted[3:9])
        for post_id in hidden:
            response = await client.patch(
                f"{API}/posts/{post_id}", json={"visibility": "only_me"}, headers=author.headers
            )
            assert response.status_code == 200, response.text
        visible = [p for p in newest_first(posted) if p not in hidden]
        assert await feed_ids(client, reader, limit=3) == visible[:3]
        assert await all_feed_ids(client, reader, limit=3) == visible
        assert await all_feed_ids(client, reader, limit=4) == visible

    async def test_a_deleted_post_never_shows(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        kept, gone = await post(client, author, "kept"), await post(client, author, "gone")
        await settle(app)
        assert await feed_ids(client, reader) == [gone, kept]  # cached by this read
        await delete(client, f"/posts/{gone}", author)
        assert await feed_ids(client, reader) == [kept]  # before the event is handled
        await settle(app)
        assert await feed_ids(client, reader) == [kept]
        assert await feed_ids(client, author) == [kept]
        assert await stored(app, author) == [kept]


class TestAuthorCard:
    async def test_a_new_display_name_shows_on_cached_posts(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        post_id = await post(client, author, "before the rename")
        await settle(app)
        (item,) = (await read(client, reader))["items"]  # the body is cached now
        assert item["author"]["display_name"] != "Renamed Person"
        response = await client.patch(
            f"{API}/users/me", json={"display_name": "Renamed Person"}, headers=author.headers
        )
        assert response.status_code == 200, response.text
        await settle(app)
        (item,) = (await read(client, reader))["items"]
        assert item["id"] == post_id
        assert item["author"]["display_name"] == "Renamed Person"
        single = await client.get(f"{API}/posts/{post_id}", headers=reader.headers)
        assert single.json()["author"]["display_name"] == "Renamed Person"

    async def test_a_new_bio_keeps_cached_posts(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        (author,) = await people(client, 1)
        post_id = await post(client, author)
        await settle(app)
        cache = cache_of(app)
        assert await cache.get(rendering.BODY_KEY.format(id=post_id)) is not None
        response = await client.patch(
            f"{API}/users/me", json={"bio": "a bio"}, headers=author.headers
        )
        assert response.status_code == 200, response.text
        await settle(app)
        assert await cache.get(rendering.BODY_KEY.format(id=post_id)) is not None


class TestBareRoute:
    """`GET /feed` is served by the gateway's bare-routes layer, past the framework."""

    async def test_is_counted_under_its_own_route(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        (reader,) = await people(client, 1)
        assert (await client.get(f"{API}/feed", headers=reader.headers)).status_code == 200
        assert (await client.get(f"{API}/feed", params={"limit": 0})).status_code == 401
        registry = app.state.container.metrics.registry
        for status in ("200", "401"):
            labels = {"route": f"{API}/feed", "method": "GET", "status": status}
            assert registry.get_sample_value("minifb_http_requests_total", labels) == 1

    async def test_head_has_the_headers_and_no_body(self, client: httpx.AsyncClient) -> None:
        (reader,) = await people(client, 1)
        response = await client.head(f"{API}/feed", headers=reader.headers)
        assert response.status_code == 200
        assert response.content == b""
        assert int(response.headers["content-length"]) > 0
        assert response.headers["x-request-id"]  # the gateway's headers, as on every route

    async def test_other_methods_are_405(self, client: httpx.AsyncClient) -> None:
        (reader,) = await people(client, 1)
        response = await client.post(f"{API}/feed", headers=reader.headers, json={})
        assert response.status_code == 405

    async def test_the_rate_limit_still_holds(self, make_client: Any) -> None:
        _, client = await make_client(rate_limit="2/1m")
        statuses = [(await client.get(f"{API}/feed")).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]

    async def test_the_documented_twin_answers_the_same(self, make_client: Any) -> None:
        app, client = await make_client()
        _, framework = await make_client(bare_routes=False)
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        await post(client, author, "seen both ways")
        await settle(app)
        bare = await client.get(f"{API}/feed", headers=reader.headers)
        documented = await framework.get(f"{API}/feed", headers=reader.headers)
        assert documented.status_code == bare.status_code == 200
        assert documented.json() == bare.json()
        assert len(bare.json()["items"]) == 1
        for who in (client, framework):
            refused = await who.get(f"{API}/feed", headers={"Authorization": "Bearer nonsense"})
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["detail"] == "The access token is not valid."

    def test_is_documented_once_in_openapi(self, app: FastAPI) -> None:
        assert list(app.openapi()["paths"][f"{API}/feed"]) == ["get"]


class CacheCalls:
    """Counts the cache operations (each one round trip on Redis) the app makes."""

    OPERATIONS = (
        "get",
        "get_many",
        "set",
        "set_many",
        "exists",
        "zread",
        "zrange_by_score",
        "zscore",
        "zadd",
        "zadd_many",
        "zrem",
        "zcard",
        "incr",
        "delete",
        "expire",
    )

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cache: Cache) -> None:
        self.calls: list[str] = []
        for name in self.OPERATIONS:
            monkeypatch.setattr(cache, name, self._counting(name, getattr(cache, name)))

    def _counting(self, name: str, method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return call


class TestCost:
    async def test_queries_do_not_grow_with_the_page(
        self, app: FastAPI, client: httpx.AsyncClient, queries: QueryLog
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        for n in range(60):
            await post(client, author, f"post {n}")
        await settle(app)
        await feed_ids(client, reader, limit=100)  # builds the feed and caches the posts
        counts = []
        for limit in (5, 50):
            queries.clear()
            queries.recording = True
            assert len(await feed_ids(client, reader, limit=limit)) == limit
            queries.recording = False
            counts.append(len(queries.selects()))
        assert counts[0] == counts[1] == 1  # the reader's reactions and ties with the authors

    async def test_a_warm_page_is_one_cache_round_trip(
        self, app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        for n in range(30):
            await post(client, author, f"post {n}")
        await settle(app)
        await feed_ids(client, reader, limit=30)
        calls = CacheCalls(monkeypatch, cache_of(app))
        body = await read(client, reader, limit=20)
        assert len(body["items"]) == 20
        # The gateway's rate limit (incr) comes with every request (ended logins
        # are checked in memory); the page and its posts are one more.
        assert calls.calls == ["incr", "zread"]
        calls.calls.clear()
        assert len(await feed_ids(client, reader, limit=20, cursor=body["next_cursor"])) == 10
        assert calls.calls == ["incr", "zread"]


class TestRebuild:
    async def test_a_missing_feed_is_rebuilt_from_the_database(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, friend, reader = await people(client, 3)
        await befriend(client, author, reader)
        await put(client, f"/users/{friend.id}/follow", reader)
        mine = await post(client, reader, "mine")
        expected = [mine]
        for n in range(3):
            expected.append(await post(client, author, f"public {n}"))
            expected.append(await post(client, author, f"friends {n}", "friends"))
            expected.append(await post(client, friend, f"public {n}"))
            await post(client, author, f"private {n}", "only_me")
            await post(client, friend, f"friends {n}", "friends")  # not the reader's friend
        await settle(app)
        for _ in range(2):  # a new cache, then a flushed one
            await cache_of(app).delete(feed.feed_key(int(reader.id)))
            assert await all_feed_ids(client, reader, limit=4) == newest_first(expected)
            assert await stored(app, reader) == newest_first(expected)

    async def test_an_empty_feed_is_not_rebuilt_on_every_read(
        self, app: FastAPI, client: httpx.AsyncClient, queries: QueryLog
    ) -> None:
        (reader,) = await people(client, 1)
        assert await read(client, reader) == {"items": [], "next_cursor": None}
        queries.recording = True
        assert await read(client, reader) == {"items": [], "next_cursor": None}
        queries.recording = False
        assert queries.selects() == []

    async def test_fan_out_to_a_missing_feed_is_completed_by_the_rebuild(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        older = await post(client, author, "before the flush")
        await settle(app)
        await cache_of(app).delete(feed.feed_key(int(reader.id)))
        newer = await post(client, author, "after the flush")
        await settle(app)
        assert await stored(app, reader) == [newer]  # fan-out alone: not complete
        assert await feed_ids(client, reader) == [newer, older]

    async def test_a_feed_keeps_the_newest_feed_size_posts(self, make_client: Any) -> None:
        app, client = await make_client(feed_size=5)
        author, reader = await people(client, 2)
        await put(client, f"/users/{author.id}/follow", reader)
        assert await feed_ids(client, reader) == []
        posted = [await post(client, author, f"post {n}") for n in range(8)]
        await settle(app)
        assert await stored(app, reader) == newest_first(posted)[:5]
        assert await all_feed_ids(client, reader, limit=2) == newest_first(posted)[:5]
        await cache_of(app).delete(feed.feed_key(int(reader.id)))
        assert await all_feed_ids(client, reader, limit=3) == newest_first(posted)[:5]
