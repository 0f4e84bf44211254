"""POST /conversations/{id}/messages is served past the framework (a bare route,
`messages.endpoints.SendMessageEndpoint`). Its documented twin answers the same,
byte for byte, and answers whatever the bare app declines, body included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from minifb.kit.bare import Declined
from minifb.kit.ids import MAX_ID
from minifb.messages.endpoints import SendMessageEndpoint
from tests.factories import People, Person, befriend, block, start_conversation
from tests.fixtures.app import AppFactory
from tests.fixtures.http import API
from tests.fixtures.twins import Twins, TwinsAnswerAlike, call_bare, same


@dataclass
class Both:
    """Two apps on one database: `bare` serves the bare route, `framework` does not."""

    bare: httpx.AsyncClient
    framework: httpx.AsyncClient
    ana: Person
    bo: Person
    conversation_id: str


@pytest.fixture
async def both(make_client: AppFactory, people: People, client: httpx.AsyncClient) -> Both:
    _, framework = await make_client(bare_routes=False)
    ana, bo = await people(2)
    await befriend(client, ana, bo)
    made = await start_conversation(client, ana, bo)
    return Both(client, framework, ana, bo, made["id"])


async def _each(both: Both, path: str, **request: Any) -> tuple[httpx.Response, httpx.Response]:
    bare = await both.bare.post(f"{API}{path}", **request)
    documented = await both.framework.post(f"{API}{path}", **request)
    return bare, documented


def _messages(both: Both) -> str:
    return f"/conversations/{both.conversation_id}/messages"


class TestTheTwinsAnswerAlike(TwinsAnswerAlike):
    @pytest.fixture
    def twins(self, both: Both) -> Twins:
        return Twins(both.bare, both.framework, f"{API}{_messages(both)}", both.ana.headers)

    async def test_a_message_and_its_resend(self, both: Both) -> None:
        body = {"text": "once, on either", "client_message_id": "k1"}
        bare, documented = await _each(both, _messages(both), json=body, headers=both.ana.headers)
        # The first made it; the second is its resend, answered with it, byte for byte.
        assert (bare.status_code, documented.status_code) == (201, 200)
        assert bare.content == documented.content
        again, _ = await _each(both, _messages(both), json=body, headers=both.ana.headers)
        assert again.status_code == 200
        assert again.content == bare.content
        fresh, other = await _each(
            both, _messages(both), json={"text": "two \u00e9 \u2713"}, headers=both.bo.headers
        )
        assert fresh.status_code == other.status_code == 201
        assert fresh.headers["content-type"] == other.headers["content-type"]
        assert fresh.json().keys() == other.json().keys()
        assert fresh.json()["text"] == other.json()["text"] == "two \u00e9 \u2713"

    @pytest.mark.parametrize(
        "content",
        [
            b'{"text": "x", "client_message_id": 5}',
        ],
    )
    async def test_a_body_this_route_refuses(self, twins: Twins, content: bytes) -> None:
        headers = {**twins.headers, "content-type": "application/json"}
        same(*await twins.each(content=content, headers=headers))

    @pytest.mark.parametrize("segment", ["0", "007", "abc", str(MAX_ID + 1), "1" * 30, "-1"])
    async def test_an_id_out_of_range(self, both: Both, segment: str) -> None:
        same(
            *await _each(
                both,
                f"/conversations/{segment}/messages",
                json={"text": "x"},
                headers=both.ana.headers,
            )
        )

    async def test_refusals_of_the_service(
        self, both: Both, people: People, client: httpx.AsyncClient
    ) -> None:
        (eve,) = await people(1)
        same(*await _each(both, _messages(both), json={"text": "x"}, headers=eve.headers))
        missing = f"/conversations/{MAX_ID}/messages"
        same(*await _each(both, missing, json={"text": "x"}, headers=both.ana.headers))
        await block(client, both.bo, both.ana)
        bare, documented = await _each(
            both, _messages(both), json={"text": "x"}, headers=both.ana.headers
        )
        assert bare.status_code == 403
        same(bare, documented)

    async def test_other_methods_go_on_to_the_framework(self, both: Both) -> None:
        listed = await both.bare.get(f"{API}{_messages(both)}", headers=both.ana.headers)
        assert listed.status_code == 200
        assert listed.json()["items"] == []
        put = await both.bare.put(f"{API}{_messages(both)}", headers=both.ana.headers)
        assert put.status_code == 405
        assert put.headers["allow"] == "GET, POST"

    def test_is_documented_once_in_openapi(self, both: Both, app: Any) -> None:
        operations = app.openapi()["paths"][f"{API}/conversations/{{conversation_id}}/messages"]
        assert sorted(operations) == ["get", "post"]


async def _call_bare(app: Any, both: Both, body: bytes) -> Any:
    params = {"conversation_id": both.conversation_id}
    return await call_bare(SendMessageEndpoint(), app, both.ana.headers, body, path_params=params)


class TestTheBareAppAlone:
    async def test_it_sends_without_the_framework(self, both: Both, app: Any) -> None:
        start, answer = await _call_bare(app, both, b'{"text": "straight through"}')
        assert start["status"] == 201
        assert dict(start["headers"])[b"content-type"] == b"application/json"
        assert orjson.loads(answer["body"])["text"] == "straight through"

    async def test_it_declines_before_sending_anything(self, both: Both, app: Any) -> None:
        with pytest.raises(Declined):
            await _call_bare(app, both, b'{"text": ""}')
