"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc`, served offline.

Their scripts and styles are the copies packaged in `fastapi-offline` (pinned
in pyproject.toml), served by the app under `/docs/assets`, so the pages work
with no internet access and load nothing from a third party; their
Content-Security-Policy tells the browser to load nothing from elsewhere
either. `MINIFB_DOCS` turns the pages and `/openapi.json` off
(`Settings.serves_docs`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))

# The pages' own inline start-up script and styles; everything else from this origin.
# ReDoc runs its search index in a worker made from a blob.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'"
)
SWAGGER_UI_PARAMETERS = {
    # Swagger UI would otherwise send the document to a public validator for a badge.
    "validatorUrl": None,
    # A token given to "Authorize" survives a reload of the page.
    "persistAuthorization": True,
}


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve `/docs`, `/redoc` and their assets on `app`, both reading `openapi_url`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        page.headers["Content-Security-Policy"] = PAGE_CSP
        return page

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title}: API",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = PAGE_CSP
        return page
