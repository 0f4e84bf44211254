"""Errors as RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope

from minifb.adapters.resilience import Unavailable
from minifb.kit.outages import DATABASE, is_outage

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("minifb.errors")


class ProblemError(BaseModel):
    """One reason a request is not valid."""

    loc: list[str] = Field(
        description="Where: the part of the request (`body`, `query`, `path`, `header`), "
        "then the field, then any index or key inside it.",
        examples=[["body", "text"]],
    )
    msg: str = Field(description="Why, in words.", examples=["must not be empty"])
    type: str = Field(description="A stable name for the kind of error.", examples=["value_error"])


class Problem(BaseModel):
    """Every error answer: RFC 9457 problem details, served as `application/problem+json`."""

    type: str = Field(
        description="A URI naming the kind of problem; its last segment is a stable code "
        "a client may switch on.",
        examples=["https://minifb.dev/problems/not-found"],
    )
    title: str = Field(description="The HTTP status in words.", examples=["Not Found"])
    status: int = Field(description="The HTTP status code.", examples=[404])
    detail: str = Field(
        description="What went wrong, in words for the person at the keyboard.",
        examples=["Nothing is here."],
    )
    errors: list[ProblemError] = Field(
        default=[],
        description="On a 422: each part of the request that is not valid, and why.",
    )


class AppError(Exception):
    """A refusal a client can act on; each subclass carries its HTTP status."""

    status: int = 400
    code: str = "bad-request"
    # Most refusals undo the request's writes; a few (revoking a stolen token
    # family) must keep them although the answer is an error.
    keep_changes: bool = False

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors else None


class InvalidInput(AppError):
    status, code = 422, "validation-error"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "Authentication is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="minifb"'})


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not-found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload-too-large"


class TooManyRequests(AppError):
    status, code = 429, "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(retry_after, 1))})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status, code = 503, "service-unavailable"


def problem_body(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The problem details of an answer, as `Problem` describes them."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"https://minifb.dev/problems/{code or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return body


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> Response:
    """Build a problem+json response."""
    body = problem_body(status, detail, code=code, errors=errors)
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-").replace("'", "")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echo where and why, never the offending input: it may be a password.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem(exc.status, exc.detail, code=exc.code, headers=exc.headers, errors=exc.errors)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    allowed = allowed_methods(request.scope)
    if allowed and request.method not in allowed:
        # A templated route took a concrete path whose own routes do not take this
        # method (DELETE /friends/suggestions reached DELETE /friends/{user_id}).
        return _method_not_allowed(request, allowed)
    errors = _validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(400, "The request body is not valid JSON.", code="malformed-json")
    return problem(422, "The request is not valid.", code="validation-error", errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404:
        detail = "Nothing is here."
    elif exc.status_code == 405 and (allowed := allowed_methods(request.scope)):
        return _method_not_allowed(request, allowed)
    return problem(exc.status_code, detail, headers=exc.headers)


# The order `Allow` lists methods in.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(scope: Scope) -> list[str]:
    """The methods this request's path takes: those of the most specific routes that
    match it, as OpenAPI matches paths (`/friends/suggestions` before `/friends/{id}`).

    The router answers 405 with the `Allow` of the first route whose path matched,
    but one path is often several routes, one per method.
    """
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]  # the routes' own paths, as the router matches them
    found: list[tuple[int, set[str]]] = []
    for route in iter_route_contexts(getattr(scope.get("app"), "routes", ())):
        methods, regex = route.methods, getattr(route, "path_regex", None)
        if methods and regex is not None and regex.match(path):
            found.append((len(getattr(route, "param_convertors", {})), methods))
    if not found:
        return []
    fewest = min(params for params, _ in found)
    methods = set().union(*(m for params, m in found if params == fewest))
    known = [m for m in _METHOD_ORDER if m in methods]
    return known + sorted(methods - set(_METHOD_ORDER))


def _method_not_allowed(request: Request, allowed: Sequence[str]) -> Response:
    return problem(
        405,
        f"{request.method} is not allowed here; this path takes {', '.join(allowed)}.",
        headers={"Allow": ", ".join(allowed)},
    )


def unavailable(exc: Exception) -> Response:
    """The 503 of a service that is down (`is_outage`): problem+json with `Retry-After`.

    Named when known (`Unavailable` names it; SQLAlchemy's errors are the
    database's), so a client or an operator reading it knows what to wait for.
    """
    if isinstance(exc, Unavailable):
        service: str | None = exc.service
        wait = exc.retry_after
    else:
        service = DATABASE if isinstance(exc, sa_exc.SQLAlchemyError) else None
        wait = 1.0
    seconds = max(1, math.ceil(wait))
    what = f"The {service} is" if service else "A service this request needs is"
    return problem(
        503,
        f"{what} not answering; try again in {seconds} s.",
        code=ServiceUnavailable.code,
        headers={"Retry-After": str(seconds)},
    )


async def _outage(request: Request, exc: Exception) -> Response:
    """Handler for the classes an outage comes as; those instances that are not one are 500s."""
    if not is_outage(exc):
        return await _unexpected(request, exc)
    # No traceback, and not a warning per request: the breaker logs the outage once.
    log.info("%s %s answered 503: %r", request.method, request.url.path, exc)
    return unavailable(exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_outage(exc):
        # An outage class no handler is registered for (a driver's own error).
        return await _outage(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Something went wrong on our side; it has been logged.", code="internal")


# The classes a failing service's error comes as (DESIGN §8: never a 500 for an
# outage). Handled where the framework handles a refusal, inside every gateway
# layer, so the 503 carries CORS and the rate-limit headers like any answer.
OUTAGE_CLASSES: tuple[type[Exception], ...] = (
    Unavailable,
    sa_exc.DBAPIError,  # connection-class ones; the others (a constraint...) answer 500
    sa_exc.TimeoutError,  # the pool had no connection free in time
    ConnectionError,
    TimeoutError,
)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a problem+json response; no stack trace reaches a client."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls in OUTAGE_CLASSES:
        app.add_exception_handler(cls, _outage)
    app.add_exception_handler(Exception, _unexpected)


async def app_handler_answer(
    scope: Scope, exc: Exception, keys: Iterable[Any], *, receive: Receive | None = None
) -> Response | None:
    """The answer of the app's own exception handler registered under the first of `keys`
    it has (exception classes or status codes), for a layer that catches `exc` outside
    the framework's exception middleware; None if there is no such handler."""
    handlers: dict[Any, Any] = getattr(scope.get("app"), "exception_handlers", {})
    handler = next((handlers[key] for key in keys if key in handlers), None)
    if handler is None:
        return None
    request = Request(scope) if receive is None else Request(scope, receive)
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer if isinstance(answer, Response) else None
