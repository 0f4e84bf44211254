"""Every error is problem+json, and no stack trace reaches a client."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from minifb.adapters.resilience import CircuitBreaker, Unavailable
from minifb.posts import feed
from tests.factories import register
from tests.fixtures.app import AppFactory
from tests.fixtures.http import PROBLEM
from tests.kit.test_outages import wrapped


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


class TestProblemDetails:
    async def test_unknown_route_is_404(self, client: httpx.AsyncClient) -> None:
        _assert_problem(await client.get("/api/v1/nowhere"), 404)

    async def test_wrong_method_is_405(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/api/v1/auth/login")
        _assert_problem(response, 405)
        assert "POST" in response.headers["allow"]

    async def test_validation_error_lists_fields_without_echoing_input(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/v1/auth/register",
            json={
                "username": "x",
                "email": "nope",
                "password": "hunter2-secret",
                "display_name": "",
            },
        )
        body = _assert_problem(response, 422)
        fields = {tuple(e["loc"]) for e in body["errors"]}  # type: ignore[union-attr]
        assert ("body", "username") in fields
        assert ("body", "email") in fields
        assert "hunter2-secret" not in response.text

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/login",
            content=b'{"login": ',
            headers={"content-type": "application/json"},
        )
        _assert_problem(response, 400)

    async def test_unexpected_error_is_500_without_trace(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async def explode() -> None:
            raise RuntimeError("secret internals: /etc/passwd line 42")

        app.router.add_api_route("/probe/explode", explode, methods=["GET"])
        response = await client.get("/probe/explode")
        _assert_problem(response, 500)
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text


class TestMethodNotAllowed:
    """A 405's `Allow` lists every method of the path, as the document has them."""

    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            # One route per method: the router alone would name the first one only.
            ("OPTIONS", "/api/v1/users/me", "GET, PATCH"),
            ("PUT", "/api/v1/posts/1", "GET, PATCH, DELETE"),
            ("POST", "/api/v1/users/1/follow", "PUT, DELETE"),
            ("GET", "/api/v1/auth/login", "POST"),
            # A concrete path is not also its templated neighbour (/friends/{user_id}).
            ("PUT", "/api/v1/friends/suggestions", "GET"),
            # The bare feed route's path, served past the framework for GET.
            ("POST", "/api/v1/feed", "GET"),
            ("DELETE", "/health", "GET"),
        ],
    )
    async def test_allow_lists_the_paths_methods(
        self, client: httpx.AsyncClient, method: str, path: str, allow: str
    ) -> None:
        me = await register(client)
        response = await client.request(method, path, headers=me.headers)
        body = _assert_problem(response, 405)
        assert response.headers["allow"] == allow
        assert body["detail"] == f"{method} is not allowed here; this path takes {allow}."

    async def test_a_concrete_path_is_not_read_as_an_id(self, client: httpx.AsyncClient) -> None:
        # DELETE /friends/{user_id} would take it, and refuse "suggestions" as an id.
        me = await register(client)
        response = await client.delete("/api/v1/friends/suggestions", headers=me.headers)
        _assert_problem(response, 405)
        assert response.headers["allow"] == "GET"
        # Without a token the answer is the 401 every protected route gives first.
        _assert_problem(await client.delete("/api/v1/friends/suggestions"), 401)

    async def test_a_bad_id_is_still_422(self, client: httpx.AsyncClient) -> None:
        me = await register(client)
        _assert_problem(await client.delete("/api/v1/friends/abc", headers=me.headers), 422)


class TestOutages:
    """A service that is down is a 503 with `Retry-After`, never a 500 (DESIGN §8)."""

    @pytest.mark.parametrize(
        ("error", "retry_after", "named"),
        [
            (Unavailable("database", retry_after=2.2), "3", "database"),
            (Unavailable("cache"), "1", "cache"),
            (
                wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
                "1",
                "database",
            ),
            (sa_exc.TimeoutError("QueuePool limit reached"), "1", "database"),
            (ConnectionRefusedError(111, "Connect call failed"), "1", None),
        ],
        ids=["unavailable", "other-service", "admin-shutdown", "pool-timeout", "refused"],
    )
    async def test_an_outage_is_a_503_with_retry_after(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        error: Exception,
        retry_after: str,
        named: str | None,
    ) -> None:
        async def fail() -> None:
            raise error

        app.router.add_api_route("/probe/down", fail, methods=["GET"])
        response = await client.get("/probe/down")
        body = _assert_problem(response, 503)
        assert response.headers["retry-after"] == retry_after
        assert body["type"] == "https://minifb.dev/problems/service-unavailable"
        if named:
            assert named in str(body["detail"])

    @pytest.mark.parametrize(
        "error",
        [
            wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key value")),
            wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
            FileNotFoundError(2, "No such file"),
        ],
        ids=["constraint", "deadlock", "missing-file"],
    )
    async def test_a_failure_that_is_not_an_outage_stays_a_500(
        self, app: FastAPI, client: httpx.AsyncClient, error: Exception
    ) -> None:
        async def fail() -> None:
            raise error

        app.router.add_api_route("/probe/broken", fail, methods=["GET"])
        response = await client.get("/probe/broken")
        _assert_problem(response, 500)
        assert "retry-after" not in response.headers

    async def test_requests_are_refused_at_once_while_the_database_breaker_is_open(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        person = await register(client)
        db = app.state.container.db
        db.breaker = CircuitBreaker("database", threshold=1, cooldown=30, max_cooldown=30)
        db.breaker.failure()
        response = await client.get("/api/v1/users/me", headers=person.headers)
        body = _assert_problem(response, 503)
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert "database" in str(body["detail"])

    @pytest.mark.parametrize("bare_routes", [True, False], ids=["bare", "framework"])
    async def test_the_bare_feed_answers_an_outage_as_the_framework_does(
        self, make_client: AppFactory, monkeypatch: pytest.MonkeyPatch, bare_routes: bool
    ) -> None:
        _, client = await make_client(bare_routes=bare_routes)
        person = await register(client)

        async def gone(*_: object, **__: object) -> bytes:
            raise wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection"))

        monkeypatch.setattr(feed, "read_feed", gone)
        response = await client.get("/api/v1/feed", headers=person.headers)
        body = _assert_problem(response, 503)
        assert response.headers["retry-after"] == "1"
        assert "database" in str(body["detail"])
