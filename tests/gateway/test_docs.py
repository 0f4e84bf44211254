"""/docs and /redoc work offline: every asset comes from the app; `MINIFB_DOCS` turns them off."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from minifb.config import Settings
from minifb.gateway.docs import ASSETS_PATH
from tests.fixtures.app import AppFactory

PAGES = ("/docs", "/redoc")
# src="...", href="...", and the document's own url: '...' in the start-up script.
_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def references(page: str) -> list[str]:
    return [a or b for a, b in _REFERENCES.findall(page)]


class TestOffline:
    @pytest.mark.parametrize("page", PAGES)
    async def test_the_page_loads_only_what_the_app_serves(
        self, client: httpx.AsyncClient, page: str
    ) -> None:
        response = await client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        # Nothing from another host: no absolute URL, not even protocol-relative.
        assert not re.search(r"https?://|//[a-z]", html), html
        found = references(html)
        assert found, html
        assert all(ref.startswith("/") for ref in found), found
        for ref in found:
            asset = await client.get(urljoin(page, ref))
            assert asset.status_code == 200, ref
            assert asset.content, ref

    @pytest.mark.parametrize("page", PAGES)
    async def test_the_browser_is_told_to_load_nothing_from_elsewhere(
        self, client: httpx.AsyncClient, page: str
    ) -> None:
        policy = (await client.get(page)).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        for name in ("script-src", "style-src", "img-src", "worker-src"):
            assert "http" not in directives[name]
            assert "*" not in directives[name]
        assert directives["frame-ancestors"] == "'none'"

    async def test_swagger_ui_loads_the_apps_document(self, client: httpx.AsyncClient) -> None:
        html = (await client.get("/docs")).text
        assert "url: '/openapi.json'" in html
        assert f"{ASSETS_PATH}/swagger-ui-bundle.js" in references(html)
        # No validator badge: it would send the document to a public service.
        assert '"validatorUrl": null' in html
        document = await client.get("/openapi.json")
        assert document.status_code == 200
        assert document.json()["info"]["title"] == "mini-facebook"

    async def test_a_missing_asset_is_a_problem(self, client: httpx.AsyncClient) -> None:
        missing = await client.get(f"{ASSETS_PATH}/nothing.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


class TestTurnedOff:
    async def test_pages_document_and_assets_answer_404(self, make_client: AppFactory) -> None:
        app, client = await make_client(docs=False)
        for path in (*PAGES, "/openapi.json", f"{ASSETS_PATH}/swagger-ui.css"):
            response = await client.get(path)
            assert response.status_code == 404, path
        # The API itself is still there, and `minifb openapi` still has its document.
        assert (await client.get("/health")).status_code == 200
        assert "/api/v1/feed" in app.openapi()["paths"]

    @pytest.mark.parametrize(
        ("environment", "docs", "served"),
        [
            ("development", None, True),
            ("test", None, True),
            ("production", None, False),
            ("production", True, True),
            ("development", False, False),
        ],
    )
    def test_served_except_in_production_unless_set(
        self, environment: str, docs: bool | None, served: bool
    ) -> None:
        settings = Settings(_env_file=None, environment=environment, docs=docs)  # type: ignore[call-arg]
        assert settings.serves_docs is served

    def test_read_from_minifb_docs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MINIFB_DOCS", "false")
        assert Settings(_env_file=None).serves_docs is False  # type: ignore[call-arg]
