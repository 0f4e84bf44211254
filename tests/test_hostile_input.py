"""Input outside what the database can store is refused at validation (issue 8, finding 3).

Cursors, ids and text that the database cannot hold (numbers past signed 64
bits, NUL, lone UTF-16 surrogates) answer 422 problem+json naming the field,
on both tiers, never a 500. The routes, query parameters and body fields come
from the app's own OpenAPI document, so a new list endpoint or text field is
covered without touching this file.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.factories import (
    PASSWORD,
    Person,
    accept_messages_from_everyone,
    comment,
    create_post,
    follow,
    register,
    send_message,
    start_conversation,
)
from tests.fixtures.app import AppFactory
from tests.fixtures.events import settle
from tests.fixtures.http import API, assert_problem

MAX_ID = 2**63 - 1
# Past signed 64 bits (by one, and by far), and below every id.
BAD_NUMBERS = [str(MAX_ID + 1), "99999999999999999999", "-1"]
# NUL cannot be stored in PostgreSQL text; a lone surrogate (JSON "\ud800") is a
# Python str that no UTF-8 encoder (database driver, hash, JSON answer) accepts.
POISONS = {"nul": "a\u0000b", "high surrogate": "a\ud800b", "low surrogate": "a\udc80b"}
# Every list the API has today: the enumeration below must find at least these.
KNOWN_LISTS = {
    f"{API}/feed",
    f"{API}/blocks",
    f"{API}/friend-requests",
    f"{API}/users/{{user_id}}/friends",
    f"{API}/users/{{user_id}}/mutual-friends",
    f"{API}/users/{{user_id}}/followers",
    f"{API}/users/{{user_id}}/following",
    f"{API}/users/{{user_id}}/posts",
    f"{API}/posts/{{post_id}}/comments",
    f"{API}/posts/{{target_id}}/reactions",
    f"{API}/comments/{{target_id}}/reactions",
    f"{API}/conversations",
    f"{API}/conversations/{{conversation_id}}/messages",
}
# What an operation needs besides the parameter a test tries (the search's words).
REQUIRED_QUERY = {f"{API}/search": {"q": "x", "type": "posts"}}
# Lists keyed by rank and id, not by id alone: their own tests try their cursors.
RANKED_LISTS = {f"{API}/search"}


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass
class World:
    """Someone with a post, a comment, a follower, a pending friend request and a
    conversation with a message, so every list and every route with an id in its path
    names something that exists."""

    me: Person
    other: Person
    ids: dict[str, str]

    def fill(self, path: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "target_id":
                name = "comment_id" if path.startswith(f"{API}/comments/") else "post_id"
            return self.ids[name]

        return re.sub(r"\{(\w+)\}", value, path)


async def world(client: httpx.AsyncClient) -> World:
    me, other = await register(client), await register(client)
    post = await create_post(client, me, "hello")
    said = await comment(client, me, post["id"], "first")
    await follow(client, other, me)
    sent = await client.post(
        f"{API}/friend-requests", json={"user_id": me.id}, headers=other.headers
    )
    assert sent.status_code == 201, sent.text
    await accept_messages_from_everyone(client, other)
    talk = await start_conversation(client, me, other)
    await send_message(client, me, talk["id"])
    ids = {"user_id": other.id, "post_id": post["id"], "comment_id": said["id"]}
    ids |= {"request_id": sent.json()["id"], "conversation_id": talk["id"]}
    png = io.BytesIO()
    Image.new("RGB", (2, 2)).save(png, "PNG")
    image = await client.post(
        f"{API}/media", files={"file": ("a.png", png.getvalue(), "image/png")}, headers=me.headers
    )
    assert image.status_code == 201, image.text
    # The parts of its file's path (`/media/files/m/{media_id}/{token}/{name}`).
    _, _, _, media_id, token, name = image.json()["url"].split("?")[0].rsplit("/", 5)
    ids |= {"media_id": media_id, "token": token, "name": name}
    return World(me, other, ids)


def operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every documented route."""
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def refused(response: httpx.Response, loc: list[str], *, alone: bool = True) -> str | None:
    """None if `response` is a 422 problem whose errors name `loc` (all of them if
    `alone`), else what it is."""
    if response.status_code != 422:
        return f"{response.status_code} {response.text[:200]}"
    if not response.headers["content-type"].startswith("application/problem+json"):
        return f"422 as {response.headers['content-type']}"
    errors = response.json().get("errors") or []
    naming = [e["loc"][: len(loc)] == loc for e in errors]
    if not any(naming) or (alone and not all(naming)):
        return f"422 naming {[e['loc'] for e in errors]}, not {loc}"
    return None


class TestCursors:
    def lists(self, app: FastAPI) -> list[tuple[str, str]]:
        found = [
            (method, path)
            for method, path, operation in operations(app)
            if any(
                p["in"] == "query" and p["name"] == "cursor"
                for p in operation.get("parameters", [])
            )
        ]
        assert {path for _, path in found} >= KNOWN_LISTS
        return found

    @pytest.mark.parametrize("bare_routes", [True, False], ids=["bare", "framework"])
    async def test_a_cursor_past_64_bits_is_refused_on_every_list(
        self, make_client: AppFactory, bare_routes: bool
    ) -> None:
        app, client = await make_client(bare_routes=bare_routes)
        w = await world(client)
        failures = []
        for method, path in self.lists(app):
            for number in BAD_NUMBERS:
                params = {**REQUIRED_QUERY.get(path, {}), "cursor": cursor_of(f"v1:{number}")}
                answer = await client.request(
                    method, w.fill(path), params=params, headers=w.me.headers
                )
                if why := refused(answer, ["query", "cursor"]):
                    failures.append(f"{method} {path} cursor v1:{number}: {why}")
        assert not failures, "\n".join(failures)

    async def test_the_largest_64_bit_cursor_is_still_served(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        for method, path in self.lists(app):
            if path in RANKED_LISTS:
                continue
            params = {"cursor": cursor_of(f"v1:{MAX_ID}"), "limit": "100"}
            answer = await client.request(method, w.fill(path), params=params, headers=w.me.headers)
            assert answer.status_code == 200, f"{path}: {answer.text}"

    @pytest.mark.parametrize("bare_routes", [True, False], ids=["bare", "framework"])
    async def test_the_feed_refuses_it_where_big_authors_merge(
        self, make_client: AppFactory, bare_routes: bool
    ) -> None:
        # One follower is already too many to fan out to: the author's posts are
        # read from the database at read time, with the cursor.
        app, client = await make_client(feed_fanout_limit=0, bare_routes=bare_routes)
        author, reader = await register(client), await register(client)
        await follow(client, reader, author)
        post = await create_post(client, author, "merged at read time")
        await settle(app)
        page = await client.get(f"{API}/feed", headers=reader.headers)
        assert [item["id"] for item in page.json()["items"]] == [post["id"]]
        for number in BAD_NUMBERS:
            answer = await client.get(
                f"{API}/feed",
                params={"cursor": cursor_of(f"v1:{number}")},
                headers=reader.headers,
            )
            body = assert_problem(answer, 422)
            assert [e["loc"] for e in body["errors"]] == [["query", "cursor"]]

    @pytest.mark.parametrize("limit", ["0", "101", str(MAX_ID + 1), "-1"])
    @pytest.mark.parametrize("bare_routes", [True, False], ids=["bare", "framework"])
    async def test_a_limit_out_of_range_is_refused(
        self, make_client: AppFactory, bare_routes: bool, limit: str
    ) -> None:
        _, client = await make_client(bare_routes=bare_routes)
        me = await register(client)
        for path in (f"{API}/feed", f"{API}/blocks", f"{API}/users/{me.id}/posts"):
            answer = await client.get(path, params={"limit": limit}, headers=me.headers)
            body = assert_problem(answer, 422)
            assert [e["loc"] for e in body["errors"]] == [["query", "limit"]]


class TestIds:
    async def test_ids_past_64_bits_or_negative_are_refused_in_paths(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        failures = []
        for method, path, _ in operations(app):
            # A stored file's path has parts that are not ids (`token`, `name`).
            names = [n for n in re.findall(r"\{(\w+)\}", path) if n not in ("token", "name")]
            for name in names:
                for number in BAD_NUMBERS:
                    target = w.fill(path.replace(f"{{{name}}}", number))
                    answer = await client.request(method, target, headers=w.me.headers)
                    # A route with a body also says that the body is missing.
                    if why := refused(answer, ["path", name], alone=False):
                        failures.append(f"{method} {path} {name}={number}: {why}")
        assert not failures, "\n".join(failures)

    @pytest.mark.parametrize("number", BAD_NUMBERS)
    async def test_they_are_refused_in_bodies_and_queries(
        self, client: httpx.AsyncClient, number: str
    ) -> None:
        w = await world(client)
        post = w.ids["post_id"]
        for as_json in (number, int(number)):
            cases = [
                ("/friend-requests", {"user_id": as_json}, ["body", "user_id"]),
                (
                    f"/posts/{post}/comments",
                    {"text": "hi", "parent_id": as_json},
                    ["body", "parent_id"],
                ),
                ("/posts", {"text": "hi", "media_ids": [as_json]}, ["body", "media_ids", "0"]),
                (
                    "/conversations",
                    {"participant_ids": [as_json]},
                    ["body", "participant_ids", "0"],
                ),
                (
                    f"/conversations/{w.ids['conversation_id']}/read",
                    {"message_id": as_json},
                    ["body", "message_id"],
                ),
            ]
            for path, body, loc in cases:
                answer = await client.post(f"{API}{path}", json=body, headers=w.me.headers)
                assert refused(answer, loc) is None, (path, body, answer.text)
        answer = await client.get(
            f"{API}/posts/{post}/comments", params={"parent_id": number}, headers=w.me.headers
        )
        assert refused(answer, ["query", "parent_id"]) is None, answer.text


# A valid value for each required body field, so a poisoned field is the only error.
def valid_fields(w: World) -> dict[str, Any]:
    return {
        "username": "hostile_base",
        "email": "hostile@example.com",
        "password": PASSWORD,
        "current_password": PASSWORD,
        "new_password": "another long pass phrase",
        "display_name": "Base",
        "login": "hostile_base",
        "refresh_token": w.me.refresh_token,
        "text": "hello",
        "type": "like",
        "user_id": w.other.id,
        "participant_ids": [w.other.id],
        "user_ids": [w.other.id],
        "message_id": "1",
        "content_type": "image/png",
        "description": "alt text",
        "size": 1000,
    }


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def string_leaves(
    schema: dict[str, Any], components: dict[str, Any], at: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """The place of every string in a body schema: top-level fields, nested objects
    and list items (as index 0)."""
    schema = resolve(schema, components)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        yield from string_leaves(branch, components, at)
    if schema.get("type") == "string":
        yield at
    for name, field in schema.get("properties", {}).items():
        yield from string_leaves(field, components, (*at, name))
    if schema.get("type") == "array":
        yield from string_leaves(schema["items"], components, (*at, 0))


def poisoned(base: dict[str, Any], at: tuple[str | int, ...], value: str) -> dict[str, Any]:
    """`base` with `value` at place `at` (a list is replaced by `[value]`)."""

    def put(node: Any, rest: tuple[str | int, ...]) -> Any:
        if not rest:
            return value
        step, rest = rest[0], rest[1:]
        if isinstance(step, int):
            return [put(None, rest)]
        node = dict(node or {})
        node[step] = put(node.get(step), rest)
        return node

    body: dict[str, Any] = put(base, at)
    return body


class TestText:
    async def test_nul_and_lone_surrogates_are_refused_in_every_body_field(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        components = app.openapi()["components"]["schemas"]
        valid = valid_fields(w)
        checked, failures = set(), []
        for method, path, operation in operations(app):
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = resolve(content["application/json"]["schema"], components)
            base = {name: valid[name] for name in schema.get("required", [])}
            for at in sorted(set(string_leaves(schema, components)), key=str):
                checked.add(f"{path} {at}")
                for what, value in POISONS.items():
                    answer = await client.request(
                        method,
                        w.fill(path),
                        content=json.dumps(poisoned(base, at, value)),
                        headers={**w.me.headers, "Content-Type": "application/json"},
                    )
                    if why := refused(answer, ["body", *map(str, at)]):
                        failures.append(f"{method} {path} {at} {what}: {why}")
        assert f"{API}/auth/login ('login',)" in checked
        assert f"{API}/users/me ('bio',)" in checked
        assert not failures, "\n".join(failures)

    @pytest.mark.parametrize("what", list(POISONS))
    async def test_an_unknown_field_named_with_them_is_refused(
        self, client: httpx.AsyncClient, what: str
    ) -> None:
        # The answer names the field: it must not fail to spell it.
        me = await register(client)
        answer = await client.post(
            f"{API}/posts",
            content=json.dumps({"text": "hello", POISONS[what]: 1}),
            headers={**me.headers, "Content-Type": "application/json"},
        )
        body = assert_problem(answer, 422)
        assert len(body["errors"]) == 1
        assert body["errors"][0]["loc"][0] == "body"

    async def test_nul_is_refused_in_every_text_query_parameter(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        # A lone surrogate cannot travel in a URL: its percent-encoded UTF-8 decodes
        # to replacement characters.
        w = await world(client)
        components = app.openapi()["components"]["schemas"]
        checked, failures = set(), []
        for method, path, operation in operations(app):
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                if param["in"] != "query" or next(string_leaves(schema, components), None) is None:
                    continue
                checked.add(f"{path} {param['name']}")
                answer = await client.request(
                    method,
                    w.fill(path),
                    params={**REQUIRED_QUERY.get(path, {}), param["name"]: POISONS["nul"]},
                    headers=w.me.headers,
                )
                if why := refused(answer, ["query", param["name"]]):
                    failures.append(f"{method} {path} {param['name']}: {why}")
        assert f"{API}/users username" in checked
        assert not failures, "\n".join(failures)

    async def test_nul_is_refused_in_the_idempotency_key(self, client: httpx.AsyncClient) -> None:
        me = await register(client)
        answer = await client.post(
            f"{API}/posts",
            json={"text": "hello"},
            headers={**me.headers, "Idempotency-Key": POISONS["nul"]},
        )
        assert refused(answer, ["header", "Idempotency-Key"]) is None, answer.text

    async def test_login_and_lookup_with_nul_as_the_issue_reported(
        self, client: httpx.AsyncClient
    ) -> None:
        me = await register(client)
        login = await client.post(
            f"{API}/auth/login", json={"login": "a\u0000", "password": PASSWORD}
        )
        assert refused(login, ["body", "login"]) is None, login.text
        lookup = await client.get(f"{API}/users?username=a%00", headers=me.headers)
        assert refused(lookup, ["query", "username"]) is None, lookup.text
