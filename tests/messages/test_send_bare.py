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


def _same(bare: httpx.Response, documented: httpx.Response) -> None:
    assert bare.status_code == documented.status_code, (bare.text, documented.text)
    assert bare.headers["content-type"] == documented.headers["content-type"]
    assert bare.content == documented.content


def _messages(both: Both) -> str:
    return f"/conversations/{both.conversation_id}/messages"


class TestTheTwinsAnswerAlike:
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
            b"{",
            b"{}",
            b"[]",
            b'{"text": ""}',
            b'{"text": "\\ud800"}',
            b'{"text": NaN}',
            b'{"text": "x", "media_ids": ["0"]}',
            b'{"text": "x", "client_message_id": 5}',
            b'{"text": "' + b"x" * 5001 + b'"}',
        ],
    )
    async def test_a_body_the_rules_refuse(self, both: Both, content: bytes) -> None:
        headers = {**both.ana.headers, "content-type": "application/json"}
        _same(*await _each(both, _messages(both), content=content, headers=headers))

    @pytest.mark.parametrize(
        ("content_type", "content"),
        [
            ("application/merge-patch+json", b'{"text": "a json subtype"}'),
            ("application/json", b'\xef\xbb\xbf{"text": "a byte order mark"}'),
        ],
    )
    async def test_a_body_only_the_framework_takes_is_sent_through_it(
        self, both: Both, content_type: str | None, content: bytes
    ) -> None:
        # Declined by the bare app once it had read the body; its twin still gets it.
        headers = dict(both.ana.headers)
        if content_type is not None:
            headers["content-type"] = content_type
        bare, documented = await _each(both, _messages(both), content=content, headers=headers)
        assert bare.status_code == documented.status_code == 201, bare.text
        text = content.decode("utf-8-sig")[10:-2]
        assert bare.json()["text"] == documented.json()["text"] == text

    @pytest.mark.parametrize("content_type", [None, "text/plain"])
    async def test_a_body_that_does_not_say_it_is_json(
        self, both: Both, content_type: str | None
    ) -> None:
        headers = dict(both.ana.headers)
        if content_type is not None:
            headers["content-type"] = content_type
        bare, documented = await _each(
            both, _messages(both), content=b'{"text": "x"}', headers=headers
        )
        assert bare.status_code == 422
        _same(bare, documented)

    @pytest.mark.parametrize("segment", ["0", "007", "abc", str(MAX_ID + 1), "1" * 30, "-1"])
    async def test_an_id_out_of_range(self, both: Both, segment: str) -> None:
        _same(
            *await _each(
                both,
                f"/conversations/{segment}/messages",
                json={"text": "x"},
                headers=both.ana.headers,
            )
        )

    @pytest.mark.parametrize(
        "headers", [{}, {"authorization": "Bearer nonsense"}, {"authorization": "Basic x"}]
    )
    async def test_no_valid_token_comes_after_parsing_and_before_the_fields(
        self, both: Both, headers: dict[str, str]
    ) -> None:
        for content, status in ((b'{"text": ""}', 401), (b"{", 400)):
            request_headers = {**headers, "content-type": "application/json"}
            bare, documented = await _each(
                both, _messages(both), content=content, headers=request_headers
            )
            assert bare.status_code == status
            _same(bare, documented)

    async def test_a_header_given_twice_is_read_as_the_twin_reads_it(self, both: Both) -> None:
        token = both.ana.headers["Authorization"]
        for pair in ([token, "Bearer junk"], ["Bearer junk", token]):
            headers = [("authorization", value) for value in pair]
            headers.append(("content-type", "application/json"))
            bare, documented = await _each(
                both, _messages(both), content=b'{"text": "twice"}', headers=headers
            )
            assert bare.status_code == documented.status_code, (bare.text, documented.text)

    async def test_refusals_of_the_service(
        self, both: Both, people: People, client: httpx.AsyncClient
    ) -> None:
        (eve,) = await people(1)
        _same(*await _each(both, _messages(both), json={"text": "x"}, headers=eve.headers))
        missing = f"/conversations/{MAX_ID}/messages"
        _same(*await _each(both, missing, json={"text": "x"}, headers=both.ana.headers))
        await block(client, both.bo, both.ana)
        bare, documented = await _each(
            both, _messages(both), json={"text": "x"}, headers=both.ana.headers
        )
        assert bare.status_code == 403
        _same(bare, documented)

    async def test_a_body_past_the_limit(self, make_client: AppFactory, people: People) -> None:
        _, bare = await make_client(max_body_bytes=1024)
        _, framework = await make_client(max_body_bytes=1024, bare_routes=False)
        (ana,) = await people(1)
        for client in (bare, framework):
            response = await client.post(
                f"{API}/conversations/1/messages", json={"text": "x" * 2000}, headers=ana.headers
            )
            assert response.status_code == 413

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


async def _call_bare(app: Any, both: Both, body: bytes) -> list[dict[str, Any]]:
    """Call the bare app as the gateway does, with nothing of FastAPI's around it."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "app": app,
        "path_params": {"conversation_id": both.conversation_id},
        "headers": [
            (b"authorization", both.ana.headers["Authorization"].encode()),
            (b"content-type", b"application/json"),
        ],
    }
    await SendMessageEndpoint()(scope, receive, send)
    return sent


class TestTheBareAppAlone:
    async def test_it_sends_without_the_framework(self, both: Both, app: Any) -> None:
        start, answer = await _call_bare(app, both, b'{"text": "straight through"}')
        assert start["status"] == 201
        assert dict(start["headers"])[b"content-type"] == b"application/json"
        assert orjson.loads(answer["body"])["text"] == "straight through"

    async def test_it_declines_before_sending_anything(self, both: Both, app: Any) -> None:
        with pytest.raises(Declined):
            await _call_bare(app, both, b'{"text": ""}')
