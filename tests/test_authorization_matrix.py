"""Person A tries every id-taking operation on other people's objects: none succeeds,
nothing changes.

The world: B has sent C a friend request, E has sent B one, B and D are
friends, B follows F, B blocks G. B has a public post (D commented on it, B
replied, D likes it) and a friends-only post. B and D talk in a direct
conversation, and in a group with F, who has left it since; B and D have the
notifications of all that, read once the events are handled. A is a stranger
to all of them. Each case runs on a fresh world, and the state of every person,
read over HTTP by its owner, must be the same before and after.

To add a service's operations (posts, messages, ...): add the objects to
`build_world` (their ids become template keys), the views their owners see to
`VIEWS`, and the attempts to `CASES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import (
    PASSWORD,
    Person,
    accept_messages_from_everyone,
    befriend,
    register,
    send_message,
    start_conversation,
)
from tests.fixtures.events import settle
from tests.fixtures.http import API

B_PASSWORD = "b's own very secret passphrase"
# A 1x1 PNG, for B's image.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


@dataclass(frozen=True)
class Case:
    """One attempt by A (or by `actor`): a method, a path and body templated with the
    world's ids, the status they must get (a refusal, or the no-op answer of an
    idempotent operation)."""

    name: str
    method: str
    path: str
    expected: int
    body: dict[str, Any] | None = None
    actor: str = "a"


CASES: list[Case] = [
    # Friend requests A is not party to: they do not exist for A.
    Case("accept B's request to C", "POST", "/friend-requests/{req_b_c}/accept", 404),
    Case("decline B's request to C", "POST", "/friend-requests/{req_b_c}/decline", 404),
    Case("cancel B's request to C", "DELETE", "/friend-requests/{req_b_c}", 404),
    Case("accept E's request to B", "POST", "/friend-requests/{req_e_b}/accept", 404),
    Case("decline E's request to B", "POST", "/friend-requests/{req_e_b}/decline", 404),
    Case("cancel E's request to B", "DELETE", "/friend-requests/{req_e_b}", 404),
    Case("accept a request by a person's id", "POST", "/friend-requests/{b}/accept", 404),
    Case(
        "send a request on B's behalf",
        "POST",
        "/friend-requests",
        422,
        {"user_id": "{c}", "from_user_id": "{b}"},
    ),
    # Friendships A is not part of.
    Case("end B and D's friendship", "DELETE", "/friends/{d}", 404),
    Case("end a friendship with B", "DELETE", "/friends/{b}", 404),
    # Follows and blocks act on A's own rows only: B's stay.
    Case("end B's follow of F", "DELETE", "/users/{f}/follow", 204),
    Case("lift B's block of G", "DELETE", "/users/{g}/block", 204),
    # Profile: only A's own, only declared fields.
    Case("become B", "PATCH", "/users/me", 422, {"id": "{b}"}),
    Case("take B's username", "PATCH", "/users/me", 422, {"username": "{b_username}"}),
    Case("take B's email", "PATCH", "/users/me", 422, {"email": "{b_email}"}),
    Case("edit B's profile", "PATCH", "/users/me", 422, {"user_id": "{b}", "bio": "hacked"}),
    # Auth: a password change is the caller's, proven by the caller's password.
    Case(
        "change B's password with B's password",
        "POST",
        "/auth/password",
        403,
        {"current_password": B_PASSWORD, "new_password": "a brand new passphrase 42"},
    ),
    Case(
        "change a password naming B",
        "POST",
        "/auth/password",
        422,
        {"current_password": PASSWORD, "new_password": "a new passphrase 42", "user_id": "{b}"},
    ),
]

# Posts, comments and reactions: A sees B's public post but may change nothing of it.
CASES += [
    Case("edit B's public post", "PATCH", "/posts/{post_b}", 403, {"text": "hacked"}),
    Case("delete B's public post", "DELETE", "/posts/{post_b}", 403),
    Case("edit B's friends-only post", "PATCH", "/posts/{post_b_friends}", 404, {"text": "x"}),
    Case("delete B's friends-only post", "DELETE", "/posts/{post_b_friends}", 404),
    Case("read B's friends-only post", "GET", "/posts/{post_b_friends}", 404),
    Case(
        "comment on B's friends-only post",
        "POST",
        "/posts/{post_b_friends}/comments",
        404,
        {"text": "hi"},
    ),
    Case(
        "react to B's friends-only post",
        "PUT",
        "/posts/{post_b_friends}/reaction",
        404,
        {"type": "like"},
    ),
    Case(
        "list reactions on B's friends-only post", "GET", "/posts/{post_b_friends}/reactions", 404
    ),
    Case("post as B", "POST", "/posts", 422, {"text": "hi", "author_id": "{b}"}),
    Case("move B's post to A", "PATCH", "/posts/{post_b}", 422, {"author_id": "{a}"}),
    Case("edit D's comment", "PATCH", "/comments/{comment_d}", 403, {"text": "hacked"}),
    Case("delete D's comment", "DELETE", "/comments/{comment_d}", 403),
    Case("delete B's reply", "DELETE", "/comments/{reply_b}", 403),
    Case(
        "move D's comment", "PATCH", "/comments/{comment_d}", 422, {"post_id": "{post_b_friends}"}
    ),
    # Reactions act on A's own reaction only: D's stays.
    Case("remove D's reaction", "DELETE", "/posts/{post_b}/reaction", 204),
    Case("remove D's comment reaction", "DELETE", "/comments/{comment_d}/reaction", 204),
    Case(
        "reply under B's post with a comment of another post",
        "POST",
        "/posts/{post_b_friends}/comments",
        404,
        {"text": "x", "parent_id": "{comment_d}"},
    ),
]

# Notifications: A reaches only A's own; B's and D's ids are as missing as any other.
CASES += [
    Case("mark B's notification read", "POST", "/notifications/{notification_b}/read", 404),
    Case("mark D's notification read", "POST", "/notifications/{notification_d}/read", 404),
    Case(
        "mark read up to B's notification",
        "POST",
        "/notifications/read",
        404,
        {"up_to_id": "{notification_b}"},
    ),
    Case("mark B's notifications read", "POST", "/notifications/read", 422, {"user_id": "{b}"}),
    # Marking all read marks A's own: B's and D's stay unread.
    Case("mark every notification read", "POST", "/notifications/read", 200, {}),
]
# Conversations: to A, who was never in them, and to F, who left the group, every
# route of a conversation answers 404 and changes nothing.
CONVERSATION_ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("read", "GET", "", None),
    ("list the messages of", "GET", "/messages", None),
    ("write in", "POST", "/messages", {"text": "hi"}),
    ("write with a client id in", "POST", "/messages", {"text": "hi", "client_message_id": "c1"}),
    ("mark read", "POST", "/read", {"message_id": "{msg_group}"}),
    ("join", "POST", "/members", {"user_ids": ["{a}"]}),
    ("add C to", "POST", "/members", {"user_ids": ["{c}"]}),
    ("leave", "DELETE", "/members/me", None),
]
CASES += [
    Case(f"{who}: {what} {conv}", method, f"/conversations/{{{conv}}}{tail}", 404, body, actor)
    for who, actor in (("outsider", "a"), ("left member", "f"))
    for conv in ("conv_b_d", "group")
    for what, method, tail, body in CONVERSATION_ROUTES
]
CASES += [
    Case(
        "start a conversation on B's behalf",
        "POST",
        "/conversations",
        422,
        {"participant_ids": ["{d}"], "created_by": "{b}"},
    ),
    Case(
        "write as B",
        "POST",
        "/conversations/{conv_b_d}/messages",
        422,
        {"text": "hi", "sender_id": "{b}"},
    ),
    Case(
        "read receipts for B",
        "POST",
        "/conversations/{group}/read",
        422,
        {"message_id": "{msg_group}", "user_id": "{b}"},
    ),
    # A has no direct conversation with D: D accepts messages from friends only.
    Case("reach D", "POST", "/conversations", 403, {"participant_ids": ["{d}"]}),
    # Media: B's upload, attached to nothing, is B's alone.
    Case("see B's image", "GET", "/media/{media_b}", 404),
    Case("describe B's image", "PATCH", "/media/{media_b}", 404, {"description": "mine"}),
    Case("delete B's image", "DELETE", "/media/{media_b}", 404),
    Case("complete B's upload", "POST", "/media/{media_b}/complete", 404),
]

# (owner, path, query): what each person sees of their own state.
VIEWS: list[tuple[str, str, dict[str, str]]] = [
    *[(p, "/users/me", {}) for p in "abcdefg"],
    *[(p, "/friend-requests", {"direction": d}) for p in "abce" for d in ("incoming", "outgoing")],
    *[
        (p, f"/users/{{{p}}}/{kind}", {})
        for p in "abdf"
        for kind in ("friends", "followers", "following")
    ],
    *[(p, "/blocks", {}) for p in "abg"],
    *[(p, "/users/{b}/posts", {}) for p in "bd"],
    *[(p, path, {}) for p in "bd" for path in ("/posts/{post_b}", "/posts/{post_b_friends}")],
    ("b", "/posts/{post_b}/comments", {}),
    ("b", "/posts/{post_b}/comments", {"parent_id": "{comment_d}"}),
    ("b", "/posts/{post_b}/reactions", {}),
    ("b", "/comments/{comment_d}/reactions", {}),
    *[(p, path, {}) for p in "bd" for path in ("/notifications", "/notifications/unread-count")],
    *[(p, "/presence", {}) for p in "bd"],
    *[(p, "/conversations", {}) for p in "abdf"],
    *[
        (p, f"/conversations/{{{conv}}}{tail}", {})
        for p in "bd"
        for conv in ("conv_b_d", "group")
        for tail in ("", "/messages")
    ],
]


@dataclass
class World:
    people: dict[str, Person]
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any) -> Any:
        """Put the world's ids into a template (a string, or the strings of a body)."""
        if isinstance(value, str):
            return value.format(**self.ids)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


async def build_world(client: httpx.AsyncClient, app: FastAPI) -> World:
    people = {p: await register(client, f"person_{p}_x") for p in "acdefg"}
    people["b"] = await register(client, "person_b_x", password=B_PASSWORD)
    world = World(people)
    world.ids.update({p: person.id for p, person in people.items()})
    world.ids["b_username"] = people["b"].username
    world.ids["b_email"] = people["b"].email
    a, b, c, d, e, f, g = (people[p] for p in "abcdefg")

    async def pending(sender: Person, to: Person) -> str:
        response = await client.post(
            f"{API}/friend-requests", json={"user_id": to.id}, headers=sender.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    world.ids["req_b_c"] = await pending(b, c)
    world.ids["req_e_b"] = await pending(e, b)
    await befriend(client, b, d)
    for response in (
        await client.put(f"{API}/users/{f.id}/follow", headers=b.headers),
        await client.put(f"{API}/users/{g.id}/block", headers=b.headers),
    ):
        assert response.status_code == 204, response.text
    del a

    async def created(path: str, body: dict[str, Any], who: Person) -> str:
        response = await client.post(f"{API}{path}", json=body, headers=who.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    post_b = await created("/posts", {"text": "B's public post"}, b)
    world.ids["post_b"] = post_b
    world.ids["post_b_friends"] = await created(
        "/posts", {"text": "B's friends post", "visibility": "friends"}, b
    )
    world.ids["comment_d"] = await created(f"/posts/{post_b}/comments", {"text": "D's"}, d)
    world.ids["reply_b"] = await created(
        f"/posts/{post_b}/comments", {"text": "B's", "parent_id": world.ids["comment_d"]}, b
    )
    for path in (f"/posts/{post_b}/reaction", f"/comments/{world.ids['comment_d']}/reaction"):
        response = await client.put(f"{API}{path}", json={"type": "like"}, headers=d.headers)
        assert response.status_code == 200, response.text
    await accept_messages_from_everyone(client, f)
    world.ids["conv_b_d"] = (await start_conversation(client, b, d))["id"]
    await send_message(client, b, world.ids["conv_b_d"], "B to D")
    group = world.ids["group"] = (await start_conversation(client, b, d, f, title="BDF"))["id"]
    world.ids["msg_group"] = (await send_message(client, d, group, "D to all"))["id"]
    left = await client.delete(f"{API}/conversations/{group}/members/me", headers=f.headers)
    assert left.status_code == 204, left.text
    await send_message(client, b, group, "after F left")
    image = await client.post(
        f"{API}/media", files={"file": ("b.png", TINY_PNG, "image/png")}, headers=b.headers
    )
    assert image.status_code == 201, image.text
    world.ids["media_b"] = image.json()["id"]
    await settle(app)
    for p in "bd":
        response = await client.get(f"{API}/notifications", headers=people[p].headers)
        assert response.status_code == 200, response.text
        world.ids[f"notification_{p}"] = response.json()["items"][0]["id"]
    return world


async def snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Everything the owners see, plus whether B can still log in with B's password."""
    seen: dict[str, Any] = {}
    for owner, path, params in VIEWS:
        response = await client.get(
            API + world.fill(path), params=world.fill(params), headers=world.people[owner].headers
        )
        seen[f"{owner} {path} {params}"] = (response.status_code, response.json())
    login = await client.post(
        f"{API}/auth/login", json={"login": world.people["b"].username, "password": B_PASSWORD}
    )
    seen["b can log in"] = login.status_code
    return seen


class TestStrangerCannotTouchOthersObjects:
    @pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
    async def test_refused_and_nothing_changes(
        self, app: FastAPI, client: httpx.AsyncClient, case: Case
    ) -> None:
        world = await build_world(client, app)
        before = await snapshot(client, world)
        assert before["b can log in"] == 200
        response = await client.request(
            case.method,
            API + world.fill(case.path),
            json=world.fill(case.body) if case.body is not None else None,
            headers=world.people[case.actor].headers,
        )
        assert response.status_code == case.expected, response.text
        if case.expected >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
        await settle(app)
        after = await snapshot(client, world)
        assert after == before


# Every users-service operation, with a well-formed path: each needs a bearer token.
USERS_OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("GET", "/users?username=someone"),
    ("GET", "/users/1"),
    ("POST", "/friend-requests"),
    ("GET", "/friend-requests"),
    ("POST", "/friend-requests/1/accept"),
    ("POST", "/friend-requests/1/decline"),
    ("DELETE", "/friend-requests/1"),
    ("GET", "/users/1/friends"),
    ("GET", "/users/1/mutual-friends"),
    ("DELETE", "/friends/1"),
    ("GET", "/friends/suggestions"),
    ("PUT", "/users/1/follow"),
    ("DELETE", "/users/1/follow"),
    ("GET", "/users/1/followers"),
    ("GET", "/users/1/following"),
    ("PUT", "/users/1/block"),
    ("DELETE", "/users/1/block"),
    ("GET", "/blocks"),
]
POSTS_OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/posts"),
    ("GET", "/posts/1"),
    ("PATCH", "/posts/1"),
    ("DELETE", "/posts/1"),
    ("GET", "/users/1/posts"),
    ("POST", "/posts/1/comments"),
    ("GET", "/posts/1/comments"),
    ("PATCH", "/comments/1"),
    ("DELETE", "/comments/1"),
    *[
        (method, f"/{kind}/1/{path}")
        for kind in ("posts", "comments")
        for method, path in (("PUT", "reaction"), ("DELETE", "reaction"), ("GET", "reactions"))
    ],
]

NOTIFICATIONS_OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/notifications"),
    ("GET", "/notifications/unread-count"),
    ("POST", "/notifications/read"),
    ("POST", "/notifications/1/read"),
    ("GET", "/presence"),
]


CONVERSATION_OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/conversations"),
    ("GET", "/conversations"),
    *[(method, f"/conversations/1{tail}") for _, method, tail, _ in CONVERSATION_ROUTES],
]


class TestEveryOperationNeedsAToken:
    @pytest.mark.parametrize(
        ("method", "path"),
        sorted(
            set(
                USERS_OPERATIONS
                + POSTS_OPERATIONS
                + NOTIFICATIONS_OPERATIONS
                + CONVERSATION_OPERATIONS
            )
        ),
    )
    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}],
        ids=["none", "garbage", "basic"],
    )
    async def test_401(
        self, client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
    ) -> None:
        body = {"user_id": "1"} if method == "POST" and path == "/friend-requests" else None
        response = await client.request(method, API + path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
