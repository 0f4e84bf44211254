"""Blocks: PUT/DELETE /users/{id}/block, GET /blocks, and what a block hides."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import People, Person, befriend, block, follow, register
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem
from tests.users.helpers import all_ids, ids, request_id, send_request


async def blocks_of(client: httpx.AsyncClient, who: Person) -> list[str]:
    return await ids(client, "/blocks", who)


class TestBlock:
    async def test_ends_every_tie(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, bob)
        await befriend(client, alice, carol)
        await block(client, alice, bob)
        assert await ids(client, f"/users/{alice.id}/friends", alice) == [carol.id]
        assert await ids(client, f"/users/{bob.id}/friends", bob) == []
        assert await ids(client, f"/users/{alice.id}/following", alice) == [carol.id]
        assert await ids(client, f"/users/{alice.id}/followers", alice) == [carol.id]
        assert await ids(client, f"/users/{bob.id}/following", bob) == []
        assert await events("block.created") == [{"blocker_id": alice.id, "blocked_id": bob.id}]

    @pytest.mark.parametrize("sender", ["blocker", "blocked"])
    async def test_drops_pending_requests(
        self, client: httpx.AsyncClient, people: People, sender: str
    ) -> None:
        alice, bob = await people(2)
        await request_id(client, *((alice, bob) if sender == "blocker" else (bob, alice)))
        await block(client, alice, bob)
        for who in (alice, bob):
            for direction in ("incoming", "outgoing"):
                assert await ids(client, "/friend-requests", who, direction=direction) == []

    async def test_drops_follows_both_ways(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await follow(client, alice, bob)
        await follow(client, bob, alice)
        await block(client, bob, alice)
        assert await ids(client, f"/users/{alice.id}/following", alice) == []
        assert await ids(client, f"/users/{alice.id}/followers", alice) == []

    async def test_idempotent(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        await block(client, alice, bob)
        await block(client, alice, bob)
        assert await blocks_of(client, alice) == [bob.id]
        assert len(await events("block.created")) == 1

    async def test_oneself(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        response = await client.put(f"{API}/users/{alice.id}/block", headers=alice.headers)
        assert_problem(response, 422)
        assert await blocks_of(client, alice) == []

    async def test_missing_and_bad_ids(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.put(f"{API}/users/1/block", headers=alice.headers), 404)
        assert_problem(await client.put(f"{API}/users/abc/block", headers=alice.headers), 422)

    async def test_someone_who_blocked_you(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await block(client, bob, alice)
        response = await client.put(f"{API}/users/{bob.id}/block", headers=alice.headers)
        assert_problem(response, 404)
        assert await blocks_of(client, alice) == []


class TestBothSidesDisappear:
    """After a block each side finds the other nowhere, whoever blocked."""

    @pytest.fixture(params=["viewer blocked", "viewer was blocked"])
    async def pair(
        self, client: httpx.AsyncClient, request: pytest.FixtureRequest
    ) -> tuple[Person, Person]:
        viewer = await register(client)
        other = await register(client, "hidden_one")
        if request.param == "viewer blocked":
            await block(client, viewer, other)
        else:
            await block(client, other, viewer)
        return viewer, other

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/users/{id}"),
            ("GET", "/users/{id}/friends"),
            ("GET", "/users/{id}/mutual-friends"),
            ("GET", "/users/{id}/followers"),
            ("GET", "/users/{id}/following"),
            ("PUT", "/users/{id}/follow"),
            ("DELETE", "/users/{id}/follow"),
            ("DELETE", "/friends/{id}"),
        ],
    )
    async def test_not_found(
        self, client: httpx.AsyncClient, pair: tuple[Person, Person], method: str, path: str
    ) -> None:
        viewer, other = pair
        response = await client.request(
            method, API + path.format(id=other.id), headers=viewer.headers
        )
        missing = await client.request(method, API + path.format(id="1"), headers=viewer.headers)
        assert_problem(response, 404)
        assert response.json()["type"] == missing.json()["type"]

    async def test_no_request_either_way(
        self, client: httpx.AsyncClient, pair: tuple[Person, Person]
    ) -> None:
        viewer, other = pair
        assert_problem(await send_request(client, viewer, other), 404)
        assert_problem(await send_request(client, other, viewer), 404)

    async def test_not_found_by_username(
        self, client: httpx.AsyncClient, pair: tuple[Person, Person]
    ) -> None:
        viewer, other = pair
        assert await ids(client, "/users", viewer, username=other.username) == []
        assert await ids(client, "/users", other, username=viewer.username) == []

    async def test_absent_from_third_parties_lists(
        self, client: httpx.AsyncClient, pair: tuple[Person, Person]
    ) -> None:
        viewer, other = pair
        third = await register(client)
        await befriend(client, third, other)
        await follow(client, other, third)
        await follow(client, third, other)
        for kind in ("friends", "followers", "following"):
            assert await ids(client, f"/users/{third.id}/{kind}", viewer) == []
            assert await ids(client, f"/users/{third.id}/{kind}", third) == [other.id]

    async def test_not_suggested(
        self, client: httpx.AsyncClient, pair: tuple[Person, Person]
    ) -> None:
        viewer, other = pair
        third = await register(client)
        await befriend(client, third, other)
        await befriend(client, third, viewer)
        assert await ids(client, "/friends/suggestions", viewer) == []
        assert await ids(client, "/friends/suggestions", other) == []


class TestUnblock:
    async def test_visible_again_but_ties_stay_gone(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        await block(client, alice, bob)
        response = await client.delete(f"{API}/users/{bob.id}/block", headers=alice.headers)
        assert response.status_code == 204
        assert (await client.get(f"{API}/users/{bob.id}", headers=alice.headers)).status_code == 200
        assert (await client.get(f"{API}/users/{alice.id}", headers=bob.headers)).status_code == 200
        assert await ids(client, f"/users/{alice.id}/friends", alice) == []
        assert await blocks_of(client, alice) == []
        await request_id(client, bob, alice)

    async def test_idempotent(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        response = await client.delete(f"{API}/users/{bob.id}/block", headers=alice.headers)
        assert response.status_code == 204

    async def test_the_blocked_cannot_lift_it(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await block(client, alice, bob)
        response = await client.delete(f"{API}/users/{alice.id}/block", headers=bob.headers)
        assert_problem(response, 404)
        assert await blocks_of(client, alice) == [bob.id]

    async def test_refusals(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(
            await client.delete(f"{API}/users/{alice.id}/block", headers=alice.headers), 422
        )
        assert_problem(await client.delete(f"{API}/users/1/block", headers=alice.headers), 404)
        assert_problem(await client.delete(f"{API}/users/z/block", headers=alice.headers), 422)


class TestBlockList:
    async def test_newest_first_and_paged(self, client: httpx.AsyncClient, people: People) -> None:
        alice, *others = await people(5)
        for other in others:
            await block(client, alice, other)
        expected = [o.id for o in reversed(others)]
        assert await blocks_of(client, alice) == expected
        assert await all_ids(client, "/blocks", alice, limit=3) == expected

    async def test_only_ones_own(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        await block(client, bob, carol)
        await block(client, carol, alice)
        assert await blocks_of(client, alice) == []
        assert await blocks_of(client, bob) == [carol.id]

    async def test_items_are_public_profiles(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await block(client, alice, bob)
        body = (await client.get(f"{API}/blocks", headers=alice.headers)).json()
        assert set(body["items"][0]) == {
            "id",
            "username",
            "display_name",
            "bio",
            "avatar_url",
            "created_at",
        }

    async def test_bad_paging(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        response = await client.get(f"{API}/blocks", params={"limit": 0}, headers=alice.headers)
        assert_problem(response, 422)
