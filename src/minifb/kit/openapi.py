"""The OpenAPI document: operation ids, and every problem answer an operation can give.

Routers declare the problems of their own rules (`problems(PostNotFound, 401)`);
`install_openapi` adds those of the framework and the gateway, which no
endpoint raises itself: a request body that is not JSON (400) or too large
(413), a request that is not valid (422, in place of FastAPI's
`HTTPValidationError`), and the rate limit (429).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Container, Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from minifb.kit.errors import PROBLEM_JSON, AppError, Problem, problem_body

Responses = dict[int | str, dict[str, Any]]
REF_PREFIX = "#/components/schemas/"

# The description and example detail of a status when a router gives none.
DEFAULT_PROBLEMS: dict[int, str] = {
    400: "The request body is not valid JSON.",
    401: "No valid access token.",
    403: "You may not do this.",
    404: "Nothing is here.",
    409: "This conflicts with the current state.",
    413: "The request body is larger than the server takes.",
    422: "The request is not valid.",
    429: "Too many requests from your address; try again after `Retry-After` seconds.",
    503: "A service this request needs is not answering; try again after `Retry-After` seconds.",
}
_CODES = {400: "malformed-json", 422: "validation-error"}
_VALIDATION_ERRORS = [{"loc": ["body", "text"], "msg": "must not be empty", "type": "value_error"}]
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "How to authenticate: `Bearer`.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}

Answer = int | type[AppError] | tuple[int | type[AppError], str]


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its name in camelCase (`create_post` -> `createPost`).

    Stable as long as the route's name is; a route whose function name does not
    read well as an operation names itself (`name=` on its decorator).
    """
    first, *rest = route.name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def problems(*answers: Answer) -> Responses:
    """`responses=` entries for the problems an operation answers, each a `Problem`
    under `application/problem+json` with an example.

    An answer is a status (described and exemplified as usual), or an
    `AppError` class that can be raised without arguments: then its status,
    its code and its words make the example, and its docstring (or its words)
    the description. Either may come with a description of its own, as
    `(answer, description)`. Several answers of one status share it.
    """
    grouped: dict[int, list[tuple[str, str, dict[str, Any]]]] = {}
    for answer in answers:
        status, description, name, example = _answer(answer)
        grouped.setdefault(status, []).append((description, name, example))
    return {
        status: problem_response(
            status,
            " Or: ".join(dict.fromkeys(d for d, _, _ in entries)),
            {name: example for _, name, example in entries},
        )
        for status, entries in grouped.items()
    }


def _answer(answer: Answer) -> tuple[int, str, str, dict[str, Any]]:
    """(status, description, example name, example body) of one answer."""
    described: str | None = None
    if isinstance(answer, tuple):
        answer, described = answer
    if isinstance(answer, int):
        status = answer
        code = _CODES.get(status)
        errors = _VALIDATION_ERRORS if status == 422 else None
        body = problem_body(status, DEFAULT_PROBLEMS[status], code=code, errors=errors)
        name = str(body["type"]).rsplit("/", 1)[-1]
        return status, described or DEFAULT_PROBLEMS[status], name, body
    error = answer()  # type: ignore[call-arg]  # the classes that take no argument
    doc = inspect.getdoc(answer) if answer.__doc__ else None
    description = described or (doc.split("\n\n")[0].replace("\n", " ") if doc else error.detail)
    body = problem_body(error.status, error.detail, code=error.code, errors=error.errors)
    return error.status, description, error.code, body


def problem_response(
    status: int, description: str, examples: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One documented problem answer, in the document's own form."""
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_JSON: {
                "schema": {"$ref": f"{REF_PREFIX}{Problem.__name__}"},
                "examples": {
                    name: {"summary": body["detail"], "value": body}
                    for name, body in examples.items()
                },
            }
        },
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _default(status: int) -> dict[str, Any]:
    return problems(status)[status]


def install_openapi(app: FastAPI, *, rate_limit_exempt: Container[str] = ()) -> None:
    """Make `app.openapi()` document what the framework and the gateway answer
    (see the module's docstring); paths in `rate_limit_exempt` answer no 429."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # FastAPI's own keeps the document it builds in `app.openapi_schema`:
            # completed once here, it is what every later call returns.
            complete(generate(), rate_limit_exempt=rate_limit_exempt)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], *, rate_limit_exempt: Container[str] = ()) -> None:
    """Add the framework's and the gateway's answers to every operation of `document`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, problem_schemas = models_json_schema(
        [(Problem, "serialization")], ref_template=REF_PREFIX + "{model}"
    )
    schemas.update(problem_schemas["$defs"])
    for path, _, operation in _operations(document):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if _is_framework_validation_error(responses.get("422")):
            responses["422"] = _default(422)
        if "requestBody" in operation:
            responses.setdefault("400", _default(400))
            responses.setdefault("413", _default(413))
        if path not in rate_limit_exempt:
            responses.setdefault("429", _default(429))
        for status, response in responses.items():
            _serve_problems_as_problem_json(status, response)
        operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _operations(document: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            yield path, method, operation


def _is_framework_validation_error(response: dict[str, Any] | None) -> bool:
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == f"{REF_PREFIX}HTTPValidationError")


def _serve_problems_as_problem_json(status: str, response: dict[str, Any]) -> None:
    # Every error answer is problem+json (`kit.errors`); a `model=` in `responses`
    # is rendered by FastAPI under application/json.
    if not status.isdigit() or int(status) < HTTPStatus.BAD_REQUEST:
        return
    content = response.get("content", {})
    if "application/json" in content:
        moved = content.pop("application/json")
        content[PROBLEM_JSON] = {**moved, **content.get(PROBLEM_JSON, {})}
