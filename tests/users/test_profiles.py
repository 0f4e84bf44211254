"""Profiles: GET/PATCH /users/me, GET /users/{id}, GET /users?username=."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from minifb.models import NotificationType
from tests.factories import People, block, register
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem

PUBLIC_FIELDS = {"id", "username", "display_name", "bio", "avatar_url", "created_at"}
MISSING_ID = "1"
# Every notification type is on until its owner turns it off.
ALL_ON = {kind.value: True for kind in NotificationType}


class TestGetMe:
    async def test_shows_email_and_settings(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice", display_name="Alice A")
        response = await client.get(f"{API}/users/me", headers=alice.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == alice.id
        assert isinstance(body["id"], str)
        assert body["username"] == "alice"
        assert body["display_name"] == "Alice A"
        assert body["email"] == "alice@example.com"
        assert body["settings"] == {
            "friend_requests_from": "everyone",
            "messages_from": "friends",
            "active_status": True,
            "notifications": ALL_ON,
        }
        assert body["bio"] == ""
        assert body["created_at"].endswith(("Z", "+00:00"))

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{API}/users/me")
        assert_problem(response, 401)


class TestUsernames:
    async def test_stored_lowercase(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "MixedCase_1", email="mixed@example.com")
        assert person.username == "mixedcase_1"

    async def test_unique_ignoring_case(self, client: httpx.AsyncClient) -> None:
        await register(client, "carol")
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": "CAROL",
                "email": "other@example.com",
                "password": "correct horse battery staple",
                "display_name": "Another Carol",
            },
        )
        assert_problem(response, 409)

    @pytest.mark.parametrize(
        "username", ["ab", "a" * 31, "bad-name", "dots.no", "spa ce", "é_accent"]
    )
    async def test_shape_enforced(self, client: httpx.AsyncClient, username: str) -> None:
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": username,
                "email": "shape@example.com",
                "password": "correct horse battery staple",
                "display_name": "Shape",
            },
        )
        assert_problem(response, 422)


class TestUpdateMe:
    async def test_changes_declared_fields(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        response = await client.patch(
            f"{API}/users/me",
            json={
                "display_name": "  Alice Liddell ",
                "bio": "Down the rabbit hole.",
                "settings": {
                    "friend_requests_from": "friends_of_friends",
                    "messages_from": "everyone",
                    "active_status": False,
                },
            },
            headers=alice.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["display_name"] == "Alice Liddell"
        assert body["bio"] == "Down the rabbit hole."
        assert body["settings"] == {
            "friend_requests_from": "friends_of_friends",
            "notifications": ALL_ON,
            "messages_from": "everyone",
            "active_status": False,
        }
        again = (await client.get(f"{API}/users/me", headers=alice.headers)).json()
        assert again == body

    async def test_leaves_other_fields_alone(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice", display_name="Alice")
        await client.patch(
            f"{API}/users/me",
            json={"settings": {"friend_requests_from": "nobody"}},
            headers=alice.headers,
        )
        response = await client.patch(
            f"{API}/users/me", json={"bio": "hello"}, headers=alice.headers
        )
        body = response.json()
        assert body["display_name"] == "Alice"
        assert body["bio"] == "hello"
        assert body["settings"] == {
            "friend_requests_from": "nobody",
            "messages_from": "friends",
            "active_status": True,
            "notifications": ALL_ON,
        }

    async def test_empty_settings_reset_nothing(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        await client.patch(
            f"{API}/users/me",
            json={"settings": {"friend_requests_from": "nobody", "messages_from": "everyone"}},
            headers=alice.headers,
        )
        response = await client.patch(
            f"{API}/users/me", json={"settings": {}}, headers=alice.headers
        )
        assert response.json()["settings"] == {
            "friend_requests_from": "nobody",
            "messages_from": "everyone",
            "active_status": True,
            "notifications": ALL_ON,
        }

    async def test_one_setting_leaves_the_other(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        response = await client.patch(
            f"{API}/users/me",
            json={"settings": {"messages_from": "everyone"}},
            headers=alice.headers,
        )
        assert response.json()["settings"] == {
            "friend_requests_from": "everyone",
            "messages_from": "everyone",
            "active_status": True,
            "notifications": ALL_ON,
        }

    async def test_bio_can_be_cleared(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        await client.patch(f"{API}/users/me", json={"bio": "something"}, headers=alice.headers)
        response = await client.patch(f"{API}/users/me", json={"bio": ""}, headers=alice.headers)
        assert response.json()["bio"] == ""

    async def test_emits_user_updated(self, client: httpx.AsyncClient, events: Events) -> None:
        alice = await register(client)
        await client.patch(f"{API}/users/me", json={"bio": "new"}, headers=alice.headers)
        updated = await events("user.updated")
        assert len(updated) == 1
        assert updated[0]["user_id"] == alice.id
        assert updated[0]["fields"] == ["bio"]

    async def test_no_change_no_event(self, client: httpx.AsyncClient, events: Events) -> None:
        alice = await register(client, display_name="Same")
        response = await client.patch(
            f"{API}/users/me", json={"display_name": "Same"}, headers=alice.headers
        )
        assert response.status_code == 200
        assert await events("user.updated") == []


class TestUpdateMeRefusals:
    """No mass assignment: a field UserUpdate does not declare is refused and changes nothing."""

    @pytest.mark.parametrize(
        "extra",
        [
            {"username": "someone_else"},
            {"email": "stolen@example.com"},
            {"id": "12345"},
            {"avatar_url": "https://evil.example/x.png"},
            {"created_at": "2020-01-01T00:00:00Z"},
            {"friend_request_policy": "nobody"},
            {"password": "new password here"},
            {"settings": {"friend_requests_from": "nobody", "is_admin": True}},
        ],
    )
    async def test_undeclared_field(self, client: httpx.AsyncClient, extra: dict[str, Any]) -> None:
        alice = await register(client, "alice", display_name="Alice")
        before = (await client.get(f"{API}/users/me", headers=alice.headers)).json()
        response = await client.patch(
            f"{API}/users/me", json={"display_name": "Changed", **extra}, headers=alice.headers
        )
        body = assert_problem(response, 422)
        assert body["errors"]
        after = (await client.get(f"{API}/users/me", headers=alice.headers)).json()
        assert after == before

    @pytest.mark.parametrize(
        "patch",
        [
            {"display_name": None},
            {"bio": None},
            {"settings": None},
            {"display_name": ""},
            {"display_name": "x" * 65},
            {"display_name": "bell\x07"},
            {"bio": "b" * 501},
            {"settings": {"friend_requests_from": "strangers"}},
        ],
    )
    async def test_invalid_value(self, client: httpx.AsyncClient, patch: dict[str, Any]) -> None:
        alice = await register(client, display_name="Alice")
        before = (await client.get(f"{API}/users/me", headers=alice.headers)).json()
        response = await client.patch(f"{API}/users/me", json=patch, headers=alice.headers)
        assert_problem(response, 422)
        assert (await client.get(f"{API}/users/me", headers=alice.headers)).json() == before

    async def test_bio_of_500_is_fine(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        response = await client.patch(
            f"{API}/users/me", json={"bio": "b" * 500}, headers=alice.headers
        )
        assert response.status_code == 200
        assert len(response.json()["bio"]) == 500

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(f"{API}/users/me", json={"bio": "x"})
        assert_problem(response, 401)


class TestGetUser:
    async def test_public_profile_without_email(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        bob = await register(client, "bob", display_name="Bob")
        response = await client.get(f"{API}/users/{bob.id}", headers=alice.headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == PUBLIC_FIELDS
        assert body["id"] == bob.id
        assert body["username"] == "bob"
        assert body["display_name"] == "Bob"

    async def test_missing_is_404(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        response = await client.get(f"{API}/users/{MISSING_ID}", headers=alice.headers)
        assert assert_problem(response, 404)["detail"] == "No such person."

    @pytest.mark.parametrize("bad", ["abc", "12x", "-5", "0", "99999999999999999999", "1.5"])
    async def test_bad_id_is_422(self, client: httpx.AsyncClient, bad: str) -> None:
        alice = await register(client)
        response = await client.get(f"{API}/users/{bad}", headers=alice.headers)
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["path", "user_id"]

    @pytest.mark.parametrize("blocker", ["viewer", "target"])
    async def test_blocked_reads_as_missing(
        self, client: httpx.AsyncClient, people: People, blocker: str
    ) -> None:
        viewer, target = await people(2)
        if blocker == "viewer":
            await block(client, viewer, target)
        else:
            await block(client, target, viewer)
        hidden = await client.get(f"{API}/users/{target.id}", headers=viewer.headers)
        missing = await client.get(f"{API}/users/{MISSING_ID}", headers=viewer.headers)
        assert_problem(hidden, 404)
        assert hidden.json() == missing.json()


class TestLookup:
    async def test_exact_and_case_insensitive(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        bob = await register(client, "bob_smith")
        response = await client.get(
            f"{API}/users", params={"username": " Bob_SMITH "}, headers=alice.headers
        )
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None
        assert [u["id"] for u in body["items"]] == [bob.id]
        assert set(body["items"][0]) == PUBLIC_FIELDS

    @pytest.mark.parametrize(
        "query", ["bob", "bob_smit", "bob_smithx", "%", "bob_%", "nobody_here"]
    )
    async def test_no_partial_matches(self, client: httpx.AsyncClient, query: str) -> None:
        alice = await register(client, "alice")
        await register(client, "bob_smith")
        response = await client.get(
            f"{API}/users", params={"username": query}, headers=alice.headers
        )
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}

    @pytest.mark.parametrize("blocker", ["viewer", "target"])
    async def test_blocked_is_empty(self, client: httpx.AsyncClient, blocker: str) -> None:
        viewer = await register(client)
        target = await register(client, "target_person")
        await block(client, *((viewer, target) if blocker == "viewer" else (target, viewer)))
        response = await client.get(
            f"{API}/users", params={"username": "target_person"}, headers=viewer.headers
        )
        assert response.json() == {"items": [], "next_cursor": None}

    async def test_username_is_required(self, client: httpx.AsyncClient) -> None:
        alice = await register(client)
        assert_problem(await client.get(f"{API}/users", headers=alice.headers), 422)

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get(f"{API}/users", params={"username": "x"}), 401)
