"""Every error is problem+json, and no stack trace reaches a client."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

PROBLEM = "application/problem+json"


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
