"""Friendships: friend lists, mutual friends, unfriending."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import People, Person, befriend, block
from tests.fixtures.events import Events, settle
from tests.fixtures.http import API, assert_problem, get_json
from tests.fixtures.queries import QueryLog
from tests.users.helpers import all_ids, ids


async def friend_ids(
    client: httpx.AsyncClient, of: Person, viewer: Person | None = None
) -> list[str]:
    return await ids(client, f"/users/{of.id}/friends", viewer or of)


class TestFriendList:
    async def test_most_recent_first(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol, dave = await people(4)
        for friend in (bob, carol, dave):
            await befriend(client, alice, friend)
        assert await friend_ids(client, alice) == [dave.id, carol.id, bob.id]
        assert await friend_ids(client, bob) == [alice.id]

    async def test_paged_by_cursor(self, client: httpx.AsyncClient, people: People) -> None:
        alice, *friends = await people(6)
        for friend in friends:
            await befriend(client, alice, friend)
        expected = [f.id for f in reversed(friends)]
        assert await all_ids(client, f"/users/{alice.id}/friends", alice, limit=2) == expected
        assert await all_ids(client, f"/users/{alice.id}/friends", alice, limit=5) == expected

    async def test_items_carry_mutual_friends_for_the_viewer(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        viewer, bob, carol, dave, erin = await people(5)
        # viewer's friends: carol, dave. bob's friends: carol, dave, erin.
        for friend in (carol, dave):
            await befriend(client, viewer, friend)
        for friend in (carol, dave, erin):
            await befriend(client, bob, friend)
        await befriend(client, carol, dave)
        body = await get_json(client, f"/users/{bob.id}/friends", viewer)
        counts = {item["id"]: item["mutual_friends"] for item in body["items"]}
        # carol and viewer share dave; dave and viewer share carol; erin shares nobody.
        assert counts == {erin.id: 0, dave.id: 1, carol.id: 1}
        assert "email" not in body["items"][0]

    async def test_of_a_third_party_hides_blocked_people(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        viewer, bob, blocked, blocker, other = await people(5)
        for friend in (blocked, blocker, other):
            await befriend(client, bob, friend)
        await block(client, viewer, blocked)
        await block(client, blocker, viewer)
        assert await friend_ids(client, bob, viewer) == [other.id]
        assert await friend_ids(client, bob) == [other.id, blocker.id, blocked.id]

    async def test_one_query_for_counts_whatever_the_length(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, queries: QueryLog
    ) -> None:
        viewer, few, many, *others = await people(9)
        await befriend(client, few, others[0])
        for other in others:
            await befriend(client, many, other)
            await befriend(client, viewer, other)
        # The feed's consumer handles the friendships in the background: let it
        # finish, so only the request's own queries are counted.
        await settle(app)
        costs = []
        for target in (few, many):
            queries.clear()
            queries.recording = True
            await get_json(client, f"/users/{target.id}/friends", viewer)
            queries.recording = False
            costs.append(len(queries.selects()))
        assert costs[0] == costs[1]
        assert costs[1] <= 4

    async def test_missing_person(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.get(f"{API}/users/1/friends", headers=alice.headers), 404)

    async def test_bad_id(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.get(f"{API}/users/abc/friends", headers=alice.headers), 422)

    @pytest.mark.parametrize("blocker", ["viewer", "target"])
    async def test_blocked_person(
        self, client: httpx.AsyncClient, people: People, blocker: str
    ) -> None:
        viewer, target = await people(2)
        await block(client, *((viewer, target) if blocker == "viewer" else (target, viewer)))
        response = await client.get(f"{API}/users/{target.id}/friends", headers=viewer.headers)
        assert_problem(response, 404)

    async def test_bad_paging(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        for params in ({"limit": 0}, {"limit": 101}, {"cursor": "%%%"}):
            response = await client.get(
                f"{API}/users/{alice.id}/friends", params=params, headers=alice.headers
            )
            assert_problem(response, 422)


class TestMutualFriends:
    async def test_friends_of_both(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol, dave, erin = await people(5)
        for friend in (carol, dave, erin):
            await befriend(client, alice, friend)
        for friend in (carol, erin):
            await befriend(client, bob, friend)
        body = await get_json(client, f"/users/{bob.id}/mutual-friends", alice)
        assert [i["id"] for i in body["items"]] == [erin.id, carol.id]
        assert all(isinstance(i["mutual_friends"], int) for i in body["items"])
        reverse = await ids(client, f"/users/{alice.id}/mutual-friends", bob)
        assert sorted(reverse) == sorted([erin.id, carol.id])

    async def test_none(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, carol)
        assert await ids(client, f"/users/{bob.id}/mutual-friends", alice) == []

    async def test_paged(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, *common = await people(5)
        for friend in common:
            await befriend(client, alice, friend)
            await befriend(client, bob, friend)
        found = await all_ids(client, f"/users/{bob.id}/mutual-friends", alice, limit=1)
        assert found == [c.id for c in reversed(common)]

    async def test_with_oneself(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        response = await client.get(f"{API}/users/{alice.id}/mutual-friends", headers=alice.headers)
        assert_problem(response, 422)

    async def test_missing_person(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        response = await client.get(f"{API}/users/1/mutual-friends", headers=alice.headers)
        assert_problem(response, 404)

    async def test_blocked_person(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await block(client, bob, alice)
        response = await client.get(f"{API}/users/{bob.id}/mutual-friends", headers=alice.headers)
        assert_problem(response, 404)


class TestUnfriend:
    async def test_ends_friendship_and_follows(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, bob)
        await befriend(client, alice, carol)
        response = await client.delete(f"{API}/friends/{bob.id}", headers=alice.headers)
        assert response.status_code == 204
        assert await friend_ids(client, alice) == [carol.id]
        assert await friend_ids(client, bob) == []
        assert await ids(client, f"/users/{alice.id}/following", alice) == [carol.id]
        assert await ids(client, f"/users/{alice.id}/followers", alice) == [carol.id]
        assert await ids(client, f"/users/{bob.id}/following", bob) == []
        assert await events("friend.removed") == [{"user_id": alice.id, "friend_id": bob.id}]

    async def test_either_side_may_end_it(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        assert (
            await client.delete(f"{API}/friends/{alice.id}", headers=bob.headers)
        ).status_code == 204
        assert await friend_ids(client, alice) == []

    async def test_they_can_befriend_again(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        await client.delete(f"{API}/friends/{bob.id}", headers=alice.headers)
        await befriend(client, bob, alice)
        assert await friend_ids(client, alice) == [bob.id]

    async def test_not_friends(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        body = assert_problem(
            await client.delete(f"{API}/friends/{bob.id}", headers=alice.headers), 404
        )
        assert body["detail"] == "You are not friends with this person."

    async def test_twice(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        await client.delete(f"{API}/friends/{bob.id}", headers=alice.headers)
        assert_problem(await client.delete(f"{API}/friends/{bob.id}", headers=alice.headers), 404)

    async def test_missing_and_bad_ids(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.delete(f"{API}/friends/1", headers=alice.headers), 404)
        assert_problem(await client.delete(f"{API}/friends/{alice.id}", headers=alice.headers), 404)
        assert_problem(await client.delete(f"{API}/friends/x", headers=alice.headers), 422)
