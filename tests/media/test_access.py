"""Who sees an image: its owner always; others through the post or conversation it is
attached to (404 for the rest). Attaching is for one's own, unattached images."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import (
    People,
    Person,
    befriend,
    block,
    send_message,
    start_conversation,
)
from tests.fixtures.http import API, assert_problem
from tests.media.corpus import image_bytes
from tests.media.test_upload import upload


async def image(client: httpx.AsyncClient, who: Person, description: str = "x") -> dict[str, Any]:
    response = await upload(client, who, image_bytes("PNG", (40, 30)), description=description)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def seen(client: httpx.AsyncClient, who: Person, media_id: str) -> int:
    return (await client.get(f"{API}/media/{media_id}", headers=who.headers)).status_code


async def post_with(
    client: httpx.AsyncClient, who: Person, media_ids: list[str], visibility: str = "public"
) -> httpx.Response:
    return await client.post(
        f"{API}/posts",
        json={"text": "look", "visibility": visibility, "media_ids": media_ids},
        headers=who.headers,
    )


class TestOnAPost:
    @pytest.mark.parametrize(
        ("visibility", "friend", "stranger"),
        [("public", 200, 200), ("friends", 200, 404), ("only_me", 404, 404)],
    )
    async def test_whoever_sees_the_post_sees_its_images(
        self,
        client: httpx.AsyncClient,
        people: People,
        visibility: str,
        friend: int,
        stranger: int,
    ) -> None:
        owner, pal, other, blocked = await people(4)
        await befriend(client, owner, pal)
        await block(client, owner, blocked)
        media = await image(client, owner)
        # Before it is attached: its owner's alone.
        assert [await seen(client, p, media["id"]) for p in (owner, pal, other, blocked)] == [
            200,
            404,
            404,
            404,
        ]
        created = await post_with(client, owner, [media["id"]], visibility)
        assert created.status_code == 201, created.text
        assert created.json()["media"] == [
            {
                "id": media["id"],
                "type": "image/png",
                "width": 40,
                "height": 30,
                "blurhash": media["blurhash"],
                "description": "x",
            }
        ]
        statuses = [await seen(client, p, media["id"]) for p in (owner, pal, other, blocked)]
        assert statuses == [200, friend, stranger, 404]

    async def test_a_post_read_back_lists_its_images_in_order(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (owner,) = await people(1)
        first, second = await image(client, owner, "one"), await image(client, owner, "two")
        post = (await post_with(client, owner, [second["id"], first["id"]])).json()
        read = await client.get(f"{API}/posts/{post['id']}", headers=owner.headers)
        assert [m["description"] for m in read.json()["media"]] == ["two", "one"]
        # A changed description reaches the post (its cached rendering is dropped).
        changed = await client.patch(
            f"{API}/media/{first['id']}", headers=owner.headers, json={"description": "uno"}
        )
        assert changed.status_code == 200, changed.text
        read = await client.get(f"{API}/posts/{post['id']}", headers=owner.headers)
        assert [m["description"] for m in read.json()["media"]] == ["two", "uno"]

    async def test_someone_elses_image_cannot_be_attached(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        owner, thief = await people(2)
        media = await image(client, owner)
        refused = assert_problem(await post_with(client, thief, [media["id"]]), 422)
        assert refused["errors"][0]["loc"] == ["body", "media_ids"]
        assert await seen(client, thief, media["id"]) == 404

    async def test_an_image_goes_on_one_post_only(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (owner,) = await people(1)
        media = await image(client, owner)
        assert (await post_with(client, owner, [media["id"]])).status_code == 201
        assert_problem(await post_with(client, owner, [media["id"]]), 422)

    async def test_eleven_images_are_too_many(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (owner,) = await people(1)
        ids = [str(i) for i in range(1, 12)]
        assert_problem(await post_with(client, owner, ids), 422)

    async def test_only_the_owner_changes_or_deletes_it(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        owner, reader = await people(2)
        media = await image(client, owner)
        assert (await post_with(client, owner, [media["id"]])).status_code == 201
        path = f"{API}/media/{media['id']}"
        patch = await client.patch(path, headers=reader.headers, json={"description": "mine"})
        assert_problem(patch, 403)
        assert_problem(await client.delete(path, headers=reader.headers), 403)
        assert (await client.delete(path, headers=owner.headers)).status_code == 204
        assert await seen(client, owner, media["id"]) == 404


class TestInAConversation:
    async def test_members_see_it_and_outsiders_do_not(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, outsider = await people(3)
        await befriend(client, ana, bo)
        conversation = await start_conversation(client, ana, bo)
        media = await image(client, ana)
        sent = await client.post(
            f"{API}/conversations/{conversation['id']}/messages",
            json={"text": "see", "media_ids": [media["id"]]},
            headers=ana.headers,
        )
        assert sent.status_code == 201, sent.text
        assert [m["id"] for m in sent.json()["media"]] == [media["id"]]
        listed = await client.get(
            f"{API}/conversations/{conversation['id']}/messages", headers=bo.headers
        )
        assert [m["id"] for m in listed.json()["items"][0]["media"]] == [media["id"]]
        assert [await seen(client, p, media["id"]) for p in (ana, bo, outsider)] == [
            200,
            200,
            404,
        ]
        # A message without images lists none.
        plain = await send_message(client, bo, conversation["id"], "nice")
        assert plain["media"] == []
