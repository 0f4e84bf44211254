"""Follows: PUT/DELETE /users/{id}/follow, followers and following lists."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import People, Person, befriend, block, follow
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json
from tests.users.helpers import all_ids, ids


async def followers(
    client: httpx.AsyncClient, of: Person, viewer: Person | None = None
) -> list[str]:
    return await ids(client, f"/users/{of.id}/followers", viewer or of)


async def following(
    client: httpx.AsyncClient, of: Person, viewer: Person | None = None
) -> list[str]:
    return await ids(client, f"/users/{of.id}/following", viewer or of)


class TestFriendshipImpliesFollowing:
    async def test_both_ways(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        assert await following(client, alice) == [bob.id]
        assert await followers(client, alice) == [bob.id]
        assert await following(client, bob) == [alice.id]
        assert await followers(client, bob) == [alice.id]


class TestFollow:
    async def test_follows(self, client: httpx.AsyncClient, people: People, events: Events) -> None:
        alice, bob = await people(2)
        response = await client.put(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert response.status_code == 204
        assert response.content == b""
        assert await following(client, alice) == [bob.id]
        assert await followers(client, bob) == [alice.id]
        assert await following(client, bob) == []
        assert await events("follow.created") == [{"follower_id": alice.id, "followee_id": bob.id}]

    async def test_idempotent(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        await follow(client, alice, bob)
        await follow(client, alice, bob)
        assert await followers(client, bob) == [alice.id]
        assert len(await events("follow.created")) == 1

    async def test_does_not_befriend(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await follow(client, alice, bob)
        assert await ids(client, f"/users/{bob.id}/friends", bob) == []

    async def test_oneself(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        body = assert_problem(
            await client.put(f"{API}/users/{alice.id}/follow", headers=alice.headers), 422
        )
        assert body["errors"][0]["loc"] == ["path", "user_id"]
        assert await following(client, alice) == []

    async def test_missing(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.put(f"{API}/users/1/follow", headers=alice.headers), 404)
        assert_problem(await client.put(f"{API}/users/nope/follow", headers=alice.headers), 422)

    @pytest.mark.parametrize("blocker", ["follower", "followee"])
    async def test_blocked(self, client: httpx.AsyncClient, people: People, blocker: str) -> None:
        alice, bob = await people(2)
        await block(client, *((alice, bob) if blocker == "follower" else (bob, alice)))
        response = await client.put(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        missing = await client.put(f"{API}/users/1/follow", headers=alice.headers)
        assert_problem(response, 404)
        assert response.json() == missing.json()
        assert await following(client, alice) == []


class TestUnfollow:
    async def test_unfollows(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        await follow(client, alice, bob)
        response = await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert response.status_code == 204
        assert await following(client, alice) == []
        assert await followers(client, bob) == []
        assert await events("follow.deleted") == [{"follower_id": alice.id, "followee_id": bob.id}]
        # Unfollowing again changes nothing and says nothing.
        await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert len(await events("follow.deleted")) == 1

    async def test_keeps_the_friendship(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert await following(client, alice) == []
        assert await following(client, bob) == [alice.id]
        assert await ids(client, f"/users/{alice.id}/friends", alice) == [bob.id]

    async def test_idempotent(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        response = await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert response.status_code == 204

    async def test_only_ones_own_follow(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await follow(client, bob, alice)
        await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        assert await followers(client, alice) == [bob.id]

    async def test_refusals(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await block(client, bob, alice)
        assert_problem(
            await client.delete(f"{API}/users/{alice.id}/follow", headers=alice.headers), 422
        )
        assert_problem(await client.delete(f"{API}/users/1/follow", headers=alice.headers), 404)
        assert_problem(
            await client.delete(f"{API}/users/{bob.id}/follow", headers=alice.headers), 404
        )


class TestLists:
    async def test_newest_first_and_paged(self, client: httpx.AsyncClient, people: People) -> None:
        star, *fans = await people(5)
        for fan in fans:
            await follow(client, fan, star)
        for fan in fans[:3]:
            await follow(client, star, fan)
        expected = [f.id for f in reversed(fans)]
        assert await followers(client, star) == expected
        assert await all_ids(client, f"/users/{star.id}/followers", star, limit=3) == expected
        assert await all_ids(client, f"/users/{star.id}/following", star, limit=2) == [
            f.id for f in reversed(fans[:3])
        ]

    async def test_items_carry_mutual_friends(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        viewer, star, fan, common = await people(4)
        await befriend(client, viewer, common)
        await befriend(client, fan, common)
        await follow(client, fan, star)
        body = await get_json(client, f"/users/{star.id}/followers", viewer)
        assert [(i["id"], i["mutual_friends"]) for i in body["items"]] == [(fan.id, 1)]

    async def test_hide_people_blocked_either_way(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        viewer, star, blocked, blocker, fan = await people(5)
        for person in (blocked, blocker, fan):
            await follow(client, person, star)
            await follow(client, star, person)
        await block(client, viewer, blocked)
        await block(client, blocker, viewer)
        assert await followers(client, star, viewer) == [fan.id]
        assert await following(client, star, viewer) == [fan.id]
        assert len(await followers(client, star)) == 3

    @pytest.mark.parametrize("kind", ["followers", "following"])
    async def test_refusals(self, client: httpx.AsyncClient, people: People, kind: str) -> None:
        alice, bob = await people(2)
        await block(client, alice, bob)
        assert_problem(await client.get(f"{API}/users/1/{kind}", headers=alice.headers), 404)
        assert_problem(await client.get(f"{API}/users/x/{kind}", headers=alice.headers), 422)
        assert_problem(await client.get(f"{API}/users/{bob.id}/{kind}", headers=alice.headers), 404)
        assert_problem(await client.get(f"{API}/users/{alice.id}/{kind}", headers=bob.headers), 404)
        assert_problem(
            await client.get(
                f"{API}/users/{alice.id}/{kind}", params={"limit": 500}, headers=alice.headers
            ),
            422,
        )
