"""Who sees what: every viewer, every visibility and every read path, against one table.

A viewer who may not see a post gets 404 exactly as for a missing post (or, on
a list, does not find it there). To add a read path (the feed, search...),
append a `ReadPath` to `READ_PATHS`: it answers whether the viewer saw the post.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import Person, befriend, block, create_post, follow, register
from tests.fixtures.http import API

VIEWERS = ["stranger", "friend", "follower", "blocked", "blocking", "author"]
VISIBILITIES = ["public", "friends", "only_me"]

# ALLOWED[visibility][viewer]: whether the viewer may see the post, written out.
ALLOWED: dict[str, dict[str, bool]] = {
    "public": {
        "stranger": True,
        "friend": True,
        "follower": True,
        "blocked": False,  # the author blocked them
        "blocking": False,  # they blocked the author
        "author": True,
    },
    "friends": {
        "stranger": False,
        "friend": True,
        "follower": False,
        "blocked": False,
        "blocking": False,
        "author": True,
    },
    "only_me": {
        "stranger": False,
        "friend": False,
        "follower": False,
        "blocked": False,
        "blocking": False,
        "author": True,
    },
}

Check = Callable[[httpx.AsyncClient, Person, Person, str], Awaitable[bool]]


def seen(response: httpx.Response, ok: int) -> bool:
    """True for the success status, False for 404; anything else fails the test."""
    assert response.status_code in (ok, 404), response.text
    if response.status_code == 404:
        assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code == ok


async def get_post(client: httpx.AsyncClient, viewer: Person, author: Person, post: str) -> bool:
    return seen(await client.get(f"{API}/posts/{post}", headers=viewer.headers), 200)


async def timeline(client: httpx.AsyncClient, viewer: Person, author: Person, post: str) -> bool:
    response = await client.get(f"{API}/users/{author.id}/posts", headers=viewer.headers)
    if not seen(response, 200):
        return False
    return post in [item["id"] for item in response.json()["items"]]


async def comments(client: httpx.AsyncClient, viewer: Person, author: Person, post: str) -> bool:
    return seen(await client.get(f"{API}/posts/{post}/comments", headers=viewer.headers), 200)


async def reactions(client: httpx.AsyncClient, viewer: Person, author: Person, post: str) -> bool:
    return seen(await client.get(f"{API}/posts/{post}/reactions", headers=viewer.headers), 200)


async def add_comment(client: httpx.AsyncClient, viewer: Person, author: Person, post: str) -> bool:
    response = await client.post(
        f"{API}/posts/{post}/comments", json={"text": "hi"}, headers=viewer.headers
    )
    return seen(response, 201)


async def put_reaction(
    client: httpx.AsyncClient, viewer: Person, author: Person, post: str
) -> bool:
    response = await client.put(
        f"{API}/posts/{post}/reaction", json={"type": "like"}, headers=viewer.headers
    )
    return seen(response, 200)


@dataclass(frozen=True)
class ReadPath:
    name: str
    check: Check


READ_PATHS: list[ReadPath] = [
    ReadPath("GET post", get_post),
    ReadPath("timeline", timeline),
    ReadPath("comments list", comments),
    ReadPath("reactions list", reactions),
    ReadPath("create comment", add_comment),
    ReadPath("put reaction", put_reaction),
]


async def viewer_as(client: httpx.AsyncClient, role: str, author: Person) -> Person:
    """The viewer in the given relation to the author."""
    if role == "author":
        return author
    viewer = await register(client)
    if role in ("friend", "blocked", "blocking"):
        # Friends first, so the table shows that a block outweighs a friendship.
        await befriend(client, author, viewer)
    if role == "follower":
        await follow(client, viewer, author)
    if role == "blocked":
        await block(client, author, viewer)
    if role == "blocking":
        await block(client, viewer, author)
    return viewer


class TestVisibilityMatrix:
    @pytest.mark.parametrize("path", READ_PATHS, ids=lambda p: p.name)
    @pytest.mark.parametrize("visibility", VISIBILITIES)
    @pytest.mark.parametrize("role", VIEWERS)
    async def test_allowed_iff_the_table_says(
        self, client: httpx.AsyncClient, role: str, visibility: str, path: ReadPath
    ) -> None:
        author = await register(client)
        viewer = await viewer_as(client, role, author)
        post = (await create_post(client, author, "matrix", visibility=visibility))["id"]
        assert await path.check(client, viewer, author, post) is ALLOWED[visibility][role]


# -- the news feed (added with the feed; its own suite is tests/posts/test_feed.py) ----------
# The feed holds the posts of the people one follows (friends follow each other)
# and one's own, so a stranger never finds a post there even where the table
# lets them see it. The viewer's feed is read for the first time here, so it is
# built from the database: what fan-out delivers is covered in test_feed.py.


async def in_feed(client: httpx.AsyncClient, viewer: Person, post: str) -> bool:
    response = await client.get(f"{API}/feed", headers=viewer.headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    return post in [item["id"] for item in response.json()["items"]]


class TestFeedVisibilityMatrix:
    @pytest.mark.parametrize("visibility", VISIBILITIES)
    @pytest.mark.parametrize("role", VIEWERS)
    async def test_in_the_feed_iff_allowed_and_followed(
        self, client: httpx.AsyncClient, role: str, visibility: str
    ) -> None:
        author = await register(client)
        viewer = await viewer_as(client, role, author)
        post = (await create_post(client, author, "matrix", visibility=visibility))["id"]
        expected = ALLOWED[visibility][role] and role != "stranger"
        assert await in_feed(client, viewer, post) is expected
