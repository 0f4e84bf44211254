"""An ended login stays ended: across restarts, in every process, whatever the cache does.

Each way of ending a login (logout, password change, a reused refresh token)
is driven over HTTP; the access tokens it ended are then presented to an app
that did not end them: a new app over the same database (a restart: on the
embedded tier it also has a fresh in-process cache), or a second app running
beside the first (another server process).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from fastapi import FastAPI

from minifb.bootstrap import Container
from tests.factories import PASSWORD, register
from tests.fixtures.app import AppFactory
from tests.fixtures.http import API
from tests.fixtures.tcp_relay import TcpRelay
from tests.fixtures.tiers import FULL_PASS, PG_SERVER_URL, REDIS_URL

# A port nothing listens on: connecting is refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"

Ender = Callable[[httpx.AsyncClient], Awaitable[list[str]]]


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})


async def _feed(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/feed", headers={"Authorization": f"Bearer {token}"})


async def _login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(
        f"{API}/auth/login", json={"login": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def _by_logout(client: httpx.AsyncClient) -> list[str]:
    person = await register(client)
    response = await client.post(f"{API}/auth/logout", json={"refresh_token": person.refresh_token})
    assert response.status_code == 204
    return [person.access_token]


async def _by_password_change(client: httpx.AsyncClient) -> list[str]:
    person = await register(client)
    elsewhere = await _login(client, person.username)
    response = await client.post(
        f"{API}/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=person.headers,
    )
    assert response.status_code == 200
    return [person.access_token, elsewhere["access_token"]]


async def _by_refresh_token_reuse(client: httpx.AsyncClient) -> list[str]:
    person = await register(client)
    rotated = await client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
    assert rotated.status_code == 200
    reused = await client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
    assert reused.status_code == 401
    return [person.access_token, rotated.json()["access_token"]]


ENDERS = pytest.mark.parametrize(
    "end_login",
    [_by_logout, _by_password_change, _by_refresh_token_reuse],
    ids=["logout", "password-change", "refresh-token-reuse"],
)


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


class TestEndedLoginsSurviveARestart:
    @ENDERS
    async def test_a_new_app_refuses_the_ended_tokens(
        self, make_client: AppFactory, end_login: Ender
    ) -> None:
        _, before = await make_client()
        ended = await end_login(before)
        for token in ended:
            assert (await _me(before, token)).status_code == 401

        _, after = await make_client()  # the same database, a new process
        for token in ended:
            assert (await _me(after, token)).status_code == 401
            assert (await _feed(after, token)).status_code == 401

    async def test_a_live_login_still_works_after_a_restart(self, make_client: AppFactory) -> None:
        _, before = await make_client()
        person = await register(before)
        _, after = await make_client()
        assert (await _me(after, person.access_token)).status_code == 200


class TestEndedLoginsHoldInEveryProcess:
    @ENDERS
    async def test_another_process_refuses_the_ended_tokens_after_its_next_poll(
        self, make_client: AppFactory, end_login: Ender
    ) -> None:
        _, a = await make_client()
        b_app, b = await make_client()
        ended = await end_login(a)
        await _container(b_app).revocations.refresh()
        for token in ended:
            assert (await _me(b, token)).status_code == 401
            assert (await _feed(b, token)).status_code == 401

    async def test_a_process_started_after_the_end_knows_it_at_once(
        self, make_client: AppFactory
    ) -> None:
        _, a = await make_client()
        ended = await _by_logout(a)
        _, b = await make_client()
        # No poll driven here: the list loaded at start already holds it.
        assert (await _me(b, ended[0])).status_code == 401


class TestEndedLoginsWithoutTheCache:
    async def test_a_logout_while_the_cache_is_unreachable_still_ends_the_login(
        self, make_client: AppFactory
    ) -> None:
        _, healthy = await make_client()
        person = await register(healthy)

        _, cut_off = await make_client(cache_url=UNREACHABLE_REDIS)
        response = await cut_off.post(
            f"{API}/auth/logout", json={"refresh_token": person.refresh_token}
        )
        assert response.status_code == 204
        assert (await _me(cut_off, person.access_token)).status_code == 401

        _, restarted = await make_client()  # the cache is back, the process is new
        assert (await _me(restarted, person.access_token)).status_code == 401


@pytest.fixture
def redis_server_url() -> str:
    """The tier's Redis, or the local one the cache contract tests use (tests/adapters)."""
    url = REDIS_URL or os.environ.get("MINIFB_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if FULL_PASS:
            pytest.fail(f"Redis is unreachable in the full pass (MINIFB_FULL_PASS): {exc}")
        pytest.skip(f"Redis is unreachable ({exc}); start it to run this test")
    finally:
        client.close()
    if urlsplit(url).scheme != "redis":
        pytest.fail("the relay speaks plain TCP only: give a redis:// URL")
    return url


class TestEndedLoginsWhenTheCacheGoesAway:
    async def test_a_logout_after_the_cache_went_down_survives_a_restart(
        self, make_client: AppFactory, redis_server_url: str
    ) -> None:
        _, healthy = await make_client(cache_url=redis_server_url)
        person = await register(healthy)
        async with TcpRelay(redis_server_url) as link:
            _, cut_off = await make_client(cache_url=link.url)
            assert (await _me(cut_off, person.access_token)).status_code == 200
            await link.cut()
            response = await cut_off.post(
                f"{API}/auth/logout", json={"refresh_token": person.refresh_token}
            )
            assert response.status_code == 204
            assert (await _me(cut_off, person.access_token)).status_code == 401

        _, restarted = await make_client(cache_url=redis_server_url)
        assert (await _me(restarted, person.access_token)).status_code == 401


class TestUnknownEndedLoginsFailClosed:
    async def test_authenticated_requests_are_503_while_the_list_cannot_be_read(
        self, make_client: AppFactory, tmp_path: Path
    ) -> None:
        _, healthy = await make_client()
        person = await register(healthy)
        unreadable = (
            "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
            if PG_SERVER_URL
            else f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'minifb.db'}"
        )
        _, blind = await make_client(database_url=unreadable, ready=False)
        for response in (
            await _me(blind, person.access_token),
            await _feed(blind, person.access_token),
        ):
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) >= 1
        # Without a token there is nothing to check against the list: still a 401.
        assert (await blind.get(f"{API}/users/me")).status_code == 401
