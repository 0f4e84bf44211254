"""The OpenAPI document describes every operation fully, so it cannot regress.

Every operation has a summary and a description in words, one tag of the
declared ones, a camelCase operation id, an example of what it takes and of
what it answers, and every problem it can answer documented as a `Problem`
under `application/problem+json`: 401 where a token is needed, 422 where
anything is validated, 400 and 413 where a body is read, 429 where the rate
limit applies, 503 where a service is used. `make api-check` (schemathesis
against a live server) checks that the answers keep to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from minifb.config import Settings
from minifb.gateway.rate_limit import EXEMPT_PATHS
from minifb.kit.errors import PROBLEM_JSON, Problem
from minifb.main import OPENAPI_TAGS, create_app

OPS_PATHS = {"/health", "/ready", "/metrics"}
BODY_METHODS = {"post", "put", "patch"}
# The document's operation ids are the API's names for generated clients: a change is
# a change of the API, made here on purpose, never by renaming a function.
OPERATION_IDS = {
    "acceptFriendRequest",
    "addConversationMembers",
    "blockUser",
    "cancelFriendRequest",
    "changePassword",
    "countUnreadNotifications",
    "createComment",
    "createConversation",
    "createPost",
    "declineFriendRequest",
    "deleteComment",
    "deleteCommentReaction",
    "deletePost",
    "deletePostReaction",
    "findUser",
    "listFriendsPresence",
    "followUser",
    "getConversation",
    "getFeed",
    "getHealth",
    "getJwks",
    "getMe",
    "getMetrics",
    "getPost",
    "getReadiness",
    "getUser",
    "leaveConversation",
    "listBlocks",
    "listComments",
    "listCommentReactions",
    "listConversations",
    "listFollowers",
    "listFollowing",
    "listFriendRequests",
    "listFriendSuggestions",
    "listFriends",
    "listMessages",
    "listMutualFriends",
    "listNotifications",
    "listPostReactions",
    "listUserPosts",
    "login",
    "logout",
    "markConversationRead",
    "markNotificationRead",
    "markNotificationsRead",
    "putCommentReaction",
    "putPostReaction",
    "refreshTokens",
    "register",
    "sendMessage",
    "sendFriendRequest",
    "unblockUser",
    "unfollowUser",
    "unfriend",
    "updateComment",
    "updateMe",
    "updatePost",
    "search",
    # media
    "uploadMedia",
    "startUpload",
    "completeUpload",
    "getMedia",
    "updateMedia",
    "deleteMedia",
    "readFile",
    "writeFile",
    "readAvatar",
}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(_env_file=None, environment="test"))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


Operation = tuple[str, str, dict[str, Any]]


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def has_example(media: dict[str, Any], document: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    return bool(resolve(media.get("schema", {}), document).get("examples"))


def failures(document: dict[str, Any], check: Any) -> list[str]:
    """`METHOD path: why` for each operation `check` finds fault with."""
    found = []
    for path, method, operation in operations(document):
        found += [f"{method.upper()} {path}: {why}" for why in check(path, method, operation)]
    return found


class TestEveryOperation:
    def test_says_what_it_does_in_words(self, app: FastAPI, document: dict[str, Any]) -> None:
        # FastAPI's own summary is the function's name in title case: not words.
        names = {
            route.unique_id: route.name.replace("_", " ").title()
            for route in iter_route_contexts(app.routes)
            if isinstance(route.original_route, APIRoute)
        }

        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            summary = operation.get("summary", "")
            if not summary or summary == names[operation["operationId"]]:
                yield f"no summary of its own ({summary!r})"
            if len(operation.get("description", "")) < 20:
                yield "no description"
            for status, response in operation["responses"].items():
                if response["description"] in (
                    "Successful Response",
                    HTTPStatus(int(status)).phrase,
                ):
                    yield f"{status} is not described in words"

        assert not failures(document, check)

    def test_has_one_tag_of_the_declared_ones(self, document: dict[str, Any]) -> None:
        declared = {tag["name"] for tag in OPENAPI_TAGS}
        assert {tag["name"] for tag in document["tags"]} == declared
        assert all(tag.get("description") for tag in document["tags"])
        used = [tuple(op.get("tags", ())) for _, _, op in operations(document)]
        assert all(len(tags) == 1 and tags[0] in declared for tags in used), used
        assert {tags[0] for tags in used} == declared

    def test_has_a_stable_camel_case_operation_id(self, document: dict[str, Any]) -> None:
        ids = [op["operationId"] for _, _, op in operations(document)]
        assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
        assert len(ids) == len(set(ids))
        assert set(ids) == OPERATION_IDS

    def test_gives_an_example_of_what_it_takes(self, document: dict[str, Any]) -> None:
        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if not has_example(media, document):
                    yield f"no example of its {media_type} body"

        assert not failures(document, check)

    def test_gives_an_example_of_each_answer(self, document: dict[str, Any]) -> None:
        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            for status, response in operation["responses"].items():
                if status == "204":
                    assert "content" not in response
                for media_type, media in response.get("content", {}).items():
                    if not has_example(media, document):
                        yield f"{status} {media_type} has no example"

        assert not failures(document, check)

    def test_documents_every_problem_as_problem_json(self, document: dict[str, Any]) -> None:
        problem_fields = set(Problem.model_fields)

        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = response.get("content", {})
                if set(content) != {PROBLEM_JSON}:
                    yield f"{status} is served as {sorted(content)}"
                    continue
                schema = resolve(content[PROBLEM_JSON]["schema"], document)
                if not problem_fields <= set(schema["properties"]):
                    yield f"{status} is not a Problem"

        assert not failures(document, check)
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas
        assert "ValidationError" not in schemas
        assert "Problem" in schemas

    def test_documents_the_statuses_it_can_answer(self, document: dict[str, Any]) -> None:
        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            documented = set(operation["responses"])
            expected: set[str] = set()
            if operation.get("security"):
                expected.add("401")
            if operation.get("parameters") or "requestBody" in operation:
                expected.add("422")
            if "requestBody" in operation:
                expected |= {"400", "413"}
            if path not in EXEMPT_PATHS:
                expected.add("429")
            if path.startswith("/api/"):
                expected.add("503")
            if missing := sorted(expected - documented):
                yield f"does not document {missing}"
            if not any(s.startswith("2") for s in documented):
                yield "documents no success"

        assert not failures(document, check)

    def test_states_the_headers_of_its_problems(self, document: dict[str, Any]) -> None:
        def check(path: str, method: str, operation: dict[str, Any]) -> Iterator[str]:
            for status, header in (("401", "WWW-Authenticate"), ("429", "Retry-After")):
                response = operation["responses"].get(status)
                if response and header not in response.get("headers", {}):
                    yield f"{status} without {header}"

        assert not failures(document, check)

    def test_every_route_of_the_app_is_documented(
        self, app: FastAPI, document: dict[str, Any]
    ) -> None:
        documented = {(path, method.upper()) for path, method, _ in operations(document)}
        served = {
            (route.path, method)
            for route in iter_route_contexts(app.routes)
            if isinstance(route.original_route, APIRoute) and route.include_in_schema
            for method in route.methods
        }
        assert served == documented
        # The bare routes, served past the framework, are documented by their twins.
        assert "get" in document["paths"]["/api/v1/feed"]
        assert set(document["paths"]) >= OPS_PATHS


def models_of(app: FastAPI) -> Iterator[type[BaseModel]]:
    """Every model the routes take or answer."""
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute):
            continue
        candidates: list[Any] = [original.response_model]
        candidates += [r.get("model") for r in original.responses.values()]
        if original.body_field is not None:
            candidates.append(original.body_field.field_info.annotation)
        yield from (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))


class TestExamples:
    def test_each_model_takes_its_own_examples(self, app: FastAPI) -> None:
        checked = set()
        for model in models_of(app):
            for mode in ("validation", "serialization"):
                for example in model.model_json_schema(mode=mode).get("examples", []):
                    model.model_validate(example)
                    checked.add(model.__name__)
        assert {"RegisterRequest", "PostCreate", "PostRead", "Page[PostRead]", "UserMe"} <= checked

    def test_problem_examples_are_problems(self, document: dict[str, Any]) -> None:
        for _, _, operation in operations(document):
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get(PROBLEM_JSON)
                if media is None:
                    continue
                examples = [e["value"] for e in media.get("examples", {}).values()]
                examples += [media["example"]] if "example" in media else []
                for example in examples:
                    assert Problem.model_validate(example).status == int(status)
