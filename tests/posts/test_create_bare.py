"""POST /posts is served past the framework (a bare route,
`posts.endpoints.CreatePostEndpoint`) unless it carries an `Idempotency-Key`. Its
documented twin answers the same, and answers whatever the bare app declines, body
included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import delete

from minifb.kit.bare import Declined
from minifb.models import User
from minifb.posts.endpoints import CreatePostEndpoint
from tests.factories import People, Person
from tests.fixtures.app import AppFactory
from tests.fixtures.http import API
from tests.fixtures.twins import Twins, TwinsAnswerAlike, call_bare, same

POSTS = f"{API}/posts"
NEW = ("id", "created_at")  # what differs between two posts made alike


@dataclass
class Both:
    """Two apps on one database: `bare` serves the bare route, `framework` does not."""

    bare: httpx.AsyncClient
    framework: httpx.AsyncClient
    ana: Person


@pytest.fixture
async def both(make_client: AppFactory, people: People, client: httpx.AsyncClient) -> Both:
    _, framework = await make_client(bare_routes=False)
    (ana,) = await people(1)
    return Both(client, framework, ana)


async def _each(both: Both, **request: Any) -> tuple[httpx.Response, httpx.Response]:
    return await both.bare.post(POSTS, **request), await both.framework.post(POSTS, **request)


def _alike(bare: httpx.Response, documented: httpx.Response) -> None:
    """Two new posts made by the same request: the same but for their ids and times."""
    assert bare.status_code == documented.status_code == 201, (bare.text, documented.text)
    assert bare.headers["content-type"] == documented.headers["content-type"]
    made, twin = bare.json(), documented.json()
    assert list(made) == list(twin)  # the same fields in the same order
    assert {k: v for k, v in made.items() if k not in NEW} == {
        k: v for k, v in twin.items() if k not in NEW
    }
    assert made["id"] != twin["id"]


class TestTheTwinsAnswerAlike(TwinsAnswerAlike):
    @pytest.fixture
    def twins(self, both: Both) -> Twins:
        return Twins(both.bare, both.framework, POSTS, both.ana.headers)

    @pytest.mark.parametrize(
        "body",
        [
            {"text": "hello, both"},
            {"text": "two \u00e9 \u2713", "visibility": "friends"},
            {"text": "for me", "visibility": "only_me", "media_ids": []},
        ],
    )
    async def test_a_new_post(self, both: Both, body: dict[str, Any]) -> None:
        bare, documented = await _each(both, json=body, headers=both.ana.headers)
        _alike(bare, documented)
        for made in (bare, documented):  # each is there to read, as its author saw it
            read = await both.framework.get(
                f"{POSTS}/{made.json()['id']}", headers=both.ana.headers
            )
            assert read.json() == made.json()

    @pytest.mark.parametrize(
        "content",
        [
            b'{"text": "x", "visibility": "everyone"}',
            b'{"text": "x", "media_ids": "1"}',
        ],
    )
    async def test_a_body_this_route_refuses(self, twins: Twins, content: bytes) -> None:
        headers = {**twins.headers, "content-type": "application/json"}
        same(*await twins.each(content=content, headers=headers))

    async def test_the_account_gone_while_its_token_lives(self, both: Both, app: Any) -> None:
        async with app.state.container.db.transaction() as session:
            await session.execute(delete(User).where(User.id == int(both.ana.id)))
        bare, documented = await _each(both, json={"text": "x"}, headers=both.ana.headers)
        assert bare.status_code == 404
        same(bare, documented)

    async def test_an_idempotency_key_goes_to_the_twin(self, both: Both) -> None:
        headers = {**both.ana.headers, "Idempotency-Key": "once-only"}
        first = await both.bare.post(POSTS, json={"text": "once"}, headers=headers)
        again = await both.bare.post(POSTS, json={"text": "once"}, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        bad = await both.bare.post(
            POSTS, json={"text": "x"}, headers={**both.ana.headers, "Idempotency-Key": "k" * 256}
        )
        assert bad.status_code == 422

    async def test_other_methods_go_on_to_the_framework(self, both: Both) -> None:
        put = await both.bare.put(POSTS, headers=both.ana.headers)
        assert put.status_code == 405

    def test_is_documented_once_in_openapi(self, app: Any) -> None:
        assert list(app.openapi()["paths"][POSTS]) == ["post"]


async def _call_bare(app: Any, who: Person, body: bytes, *extra: tuple[bytes, bytes]) -> Any:
    return await call_bare(CreatePostEndpoint(), app, who.headers, body, *extra)


class TestTheBareAppAlone:
    async def test_it_publishes_without_the_framework(self, both: Both, app: Any) -> None:
        start, answer = await _call_bare(app, both.ana, b'{"text": "straight through"}')
        assert start["status"] == 201
        assert dict(start["headers"])[b"content-type"] == b"application/json"
        assert orjson.loads(answer["body"])["text"] == "straight through"

    @pytest.mark.parametrize(
        ("body", "extra"),
        [(b'{"text": ""}', ()), (b'{"text": "x"}', ((b"idempotency-key", b"k"),))],
        ids=["a body the rules refuse", "an idempotency key"],
    )
    async def test_it_declines_before_sending_anything(
        self, both: Both, app: Any, body: bytes, extra: tuple[tuple[bytes, bytes], ...]
    ) -> None:
        with pytest.raises(Declined):
            await _call_bare(app, both.ana, body, *extra)
