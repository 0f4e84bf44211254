"""A Redis of the test's own, stopped or frozen under a running app (DESIGN §8).

Nothing here touches the shared Redis: `redis_server` starts a throwaway one
on a free port. With it stopped, reads answer from the database and writes go
on; with it frozen (SIGSTOP: connections accepted, nothing answered), calls
give up after the cache timeout and the circuit breaker answers the rest at
once; a change of visibility made meanwhile is never served stale once it is
back; and full service returns by itself. Each test is bounded in time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.cache import GuardedCache
from minifb.posts import feed, rendering
from tests.factories import PASSWORD, Person, create_post, follow, register
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
from tests.fixtures.events import settle
from tests.fixtures.http import API
from tests.fixtures.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, imported for the tests below

TEST_DEADLINE = 60.0
CACHE_TIMEOUT = 0.3


@pytest.fixture
async def app_client(
    make_client: AppFactory, redis_server: RedisServer
) -> tuple[FastAPI, httpx.AsyncClient]:
    """The app over the test's database and the throwaway Redis, throttles on."""
    return await make_client(
        cache_url=redis_server.url, cache_timeout=CACHE_TIMEOUT, auth_throttle=True
    )


def guarded(app: FastAPI) -> GuardedCache:
    cache = app.state.container.cache
    assert isinstance(cache, GuardedCache)
    return cache


async def until_the_cache_answers(app: FastAPI, client: httpx.AsyncClient, who: Person) -> None:
    """Read until the breaker has let a trial through and closed (bounded by the deadline)."""
    while True:
        response = await client.get(f"{API}/feed", headers=who.headers)
        assert response.status_code == 200, response.text
        if guarded(app).breaker.state == "closed":
            return
        await asyncio.sleep(0.1)


async def statuses(client: httpx.AsyncClient, calls: list[tuple[str, str, Any, Person]]) -> list:
    out = []
    for method, path, body, who in calls:
        response = await client.request(method, f"{API}{path}", json=body, headers=who.headers)
        out.append((method, path, response.status_code))
        assert response.status_code < 500, (method, path, response.text)
    return out


class TestStopped:
    @bounded(TEST_DEADLINE)
    async def test_every_route_answers_and_reads_come_from_the_database(
        self, app: FastAPI, client: httpx.AsyncClient, redis_server: RedisServer
    ) -> None:
        author, reader = await register(client), await register(client)
        await follow(client, reader, author)
        before = str((await create_post(client, author, "before the outage"))["id"])
        await settle(app)
        redis_server.stop()

        during = str((await create_post(client, author, "during the outage"))["id"])
        feed = await client.get(f"{API}/feed", headers=reader.headers)
        assert feed.status_code == 200, feed.text
        assert [p["id"] for p in feed.json()["items"]] == [during, before]
        single = await client.get(f"{API}/posts/{during}", headers=reader.headers)
        assert single.json()["text"] == "during the outage"

        await statuses(
            client,
            [
                ("GET", f"/users/{author.id}/posts", None, reader),
                ("PATCH", f"/posts/{during}", {"text": "edited"}, author),
                ("POST", f"/posts/{during}/comments", {"text": "still here"}, reader),
                ("GET", f"/posts/{during}/comments", None, author),
                ("PUT", f"/posts/{during}/reaction", {"type": "love"}, reader),
                ("GET", "/users/me", None, reader),
                ("DELETE", f"/users/{author.id}/follow", None, reader),
            ],
        )
        login = await client.post(
            f"{API}/auth/login", json={"login": reader.username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        newcomer = await register(client)
        changed = await client.post(
            f"{API}/auth/password",
            json={"current_password": PASSWORD, "new_password": "a brand new passphrase 77"},
            headers=newcomer.headers,
        )
        assert changed.status_code == 200, changed.text
        refreshed = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text

    @bounded(TEST_DEADLINE)
    async def test_login_throttles_keep_counting_while_the_cache_is_down(
        self, client: httpx.AsyncClient, redis_server: RedisServer
    ) -> None:
        person = await register(client)
        redis_server.stop()
        answers = [
            (
                await client.post(
                    f"{API}/auth/login", json={"login": person.username, "password": "wrong!"}
                )
            ).status_code
            for _ in range(30)
        ]
        # Counted in the process meanwhile: refused past the limit, never a 5xx.
        assert set(answers) <= {401, 429}
        assert 429 in answers

    @bounded(TEST_DEADLINE)
    async def test_full_service_returns_by_itself_once_it_is_back(
        self, app: FastAPI, client: httpx.AsyncClient, redis_server: RedisServer
    ) -> None:
        author, reader = await register(client), await register(client)
        await follow(client, reader, author)
        post_id = str((await create_post(client, author))["id"])
        await settle(app)
        redis_server.stop()
        for _ in range(5):
            assert (await client.get(f"{API}/feed", headers=reader.headers)).status_code == 200
        assert guarded(app).breaker.state != "closed"
        redis_server.start()  # empty: a restarted Redis that kept nothing
        await until_the_cache_answers(app, client, reader)
        page = await client.get(f"{API}/feed", headers=reader.headers)
        assert [p["id"] for p in page.json()["items"]] == [post_id]
        # Read through the cache again: the rebuilt feed and the post are stored there.
        cache = guarded(app)
        assert await cache.zcard(feed.feed_key(int(reader.id))) >= 1
        assert await cache.get(rendering.BODY_KEY.format(id=post_id)) is not None


class TestFrozen:
    @bounded(TEST_DEADLINE)
    async def test_calls_give_up_quickly_and_the_breaker_answers_the_rest_at_once(
        self, app: FastAPI, client: httpx.AsyncClient, redis_server: RedisServer
    ) -> None:
        author, reader = await register(client), await register(client)
        await follow(client, reader, author)
        await settle(app)
        # The reader's feed is built and cached: what fan-out adds to it while the
        # cache is frozen must reach it once it thaws, not be lost.
        assert (await client.get(f"{API}/feed", headers=reader.headers)).json()["items"] == []
        redis_server.freeze()
        started = time.monotonic()
        for n in range(20):
            await create_post(client, author, f"post {n}")
            response = await client.get(f"{API}/feed", headers=reader.headers)
            assert response.status_code == 200, response.text
        elapsed = time.monotonic() - started
        # Each waited call gives up after CACHE_TIMEOUT, and only a handful wait
        # at all: a client's own 5 s socket timeout per call would take minutes.
        assert elapsed < 15, elapsed
        redis_server.thaw()
        await until_the_cache_answers(app, client, reader)
        await settle(app)
        page = await client.get(f"{API}/feed", headers=reader.headers, params={"limit": 50})
        assert len(page.json()["items"]) == 20

    @bounded(TEST_DEADLINE)
    @pytest.mark.parametrize("change", ["only_me", "delete"])
    async def test_a_post_hidden_while_it_is_frozen_is_never_served_stale_afterwards(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        redis_server: RedisServer,
        change: str,
    ) -> None:
        author, stranger = await register(client), await register(client)
        await follow(client, stranger, author)
        post_id = str((await create_post(client, author, "public for now"))["id"])
        await settle(app)
        seen = await client.get(f"{API}/posts/{post_id}", headers=stranger.headers)
        assert seen.status_code == 200  # cached now
        redis_server.freeze()
        if change == "delete":
            answer = await client.delete(f"{API}/posts/{post_id}", headers=author.headers)
            assert answer.status_code == 204, answer.text
        else:
            answer = await client.patch(
                f"{API}/posts/{post_id}", json={"visibility": "only_me"}, headers=author.headers
            )
            assert answer.status_code == 200, answer.text
        redis_server.thaw()
        await until_the_cache_answers(app, client, stranger)
        for _ in range(30):
            single = await client.get(f"{API}/posts/{post_id}", headers=stranger.headers)
            assert single.status_code == 404
            page = await client.get(f"{API}/feed", headers=stranger.headers)
            assert post_id not in [p["id"] for p in page.json()["items"]]
