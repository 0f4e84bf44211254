"""GET /notifications, GET /notifications/unread-count, POST /notifications/read,
POST /notifications/{id}/read."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import People, Person, comment, create_post
from tests.fixtures.events import settle
from tests.fixtures.http import API, assert_problem, get_json
from tests.fixtures.queries import QueryLog
from tests.notifications.helpers import inbox, unread


async def commented(
    app: FastAPI, client: httpx.AsyncClient, author: Person, others: list[Person]
) -> list[str]:
    """Each of `others` comments on a post of `author`'s: the ids of `author`'s
    notifications, newest first."""
    post = await create_post(client, author)
    for other in others:
        await comment(client, other, post["id"])
    return [item["id"] for item in await inbox(app, client, author)]


class TestList:
    async def test_pages_newest_first(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, *others = await people(6)
        ids = await commented(app, client, ana, others)
        assert len(ids) == 5
        assert ids == sorted(ids, key=int, reverse=True)
        first = await get_json(client, "/notifications", ana, limit=2)
        assert [i["id"] for i in first["items"]] == ids[:2]
        seen = [i["id"] for i in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            page = await get_json(client, "/notifications", ana, limit=2, cursor=cursor)
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
        assert seen == ids

    async def test_unread_only(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        newer, older = await commented(app, client, ana, [bob, cid])
        await client.post(f"{API}/notifications/{newer}/read", headers=ana.headers)
        items = await inbox(app, client, ana, unread_only="true")
        assert [i["id"] for i in items] == [older]
        assert len(await inbox(app, client, ana, unread_only="false")) == 2

    async def test_a_bad_cursor_or_limit_is_422(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        [ana] = await people(1)
        for params in ({"cursor": "nope"}, {"limit": "0"}, {"limit": "101"}, {"unread_only": "x"}):
            response = await client.get(f"{API}/notifications", params=params, headers=ana.headers)
            assert_problem(response, 422)

    async def test_costs_the_same_queries_for_many_actors_as_for_few(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, queries: QueryLog
    ) -> None:
        ana, bob, *many = await people(8)
        await commented(app, client, bob, many[:1])
        await commented(app, client, ana, many)

        async def selects(who: Person) -> int:
            await settle(app)
            queries.clear()
            queries.recording = True
            await get_json(client, "/notifications", who)
            queries.recording = False
            return len(queries.selects())

        assert await selects(ana) == await selects(bob)


class TestUnreadCount:
    async def test_counts_what_is_unread(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        assert await unread(app, client, ana) == 0
        newer, _ = await commented(app, client, ana, [bob, cid])
        assert await unread(app, client, ana) == 2
        await client.post(f"{API}/notifications/{newer}/read", headers=ana.headers)
        assert await unread(app, client, ana) == 1


class TestMarkAllRead:
    async def test_marks_everything_and_answers_the_count_left(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        await commented(app, client, ana, [bob, cid])
        response = await client.post(f"{API}/notifications/read", json={}, headers=ana.headers)
        assert response.status_code == 200
        assert response.json() == {"count": 0}
        assert all(item["read"] for item in await inbox(app, client, ana))

    async def test_no_body_marks_everything_too(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        await commented(app, client, ana, [bob])
        response = await client.post(f"{API}/notifications/read", headers=ana.headers)
        assert response.status_code == 200
        assert response.json() == {"count": 0}

    async def test_up_to_an_id_marks_it_and_what_is_listed_below_it(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, *others = await people(4)
        newest, middle, oldest = await commented(app, client, ana, others)
        response = await client.post(
            f"{API}/notifications/read", json={"up_to_id": middle}, headers=ana.headers
        )
        assert response.json() == {"count": 1}
        read = {item["id"]: item["read"] for item in await inbox(app, client, ana)}
        assert read == {newest: False, middle: True, oldest: True}

    async def test_up_to_someone_elses_or_no_notification_is_404(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        [bobs] = await commented(app, client, bob, [cid])
        await commented(app, client, ana, [cid])
        for up_to in (bobs, "1"):
            response = await client.post(
                f"{API}/notifications/read", json={"up_to_id": up_to}, headers=ana.headers
            )
            body = assert_problem(response, 404)
            assert body["type"].endswith("notification-not-found")
        assert await unread(app, client, ana) == 1
        assert await unread(app, client, bob) == 1

    async def test_a_bad_body_is_422(self, client: httpx.AsyncClient, people: People) -> None:
        [ana] = await people(1)
        for body in ({"up_to_id": "abc"}, {"up_to_id": None, "all": True}, {"up_to_id": 0}):
            response = await client.post(
                f"{API}/notifications/read", json=body, headers=ana.headers
            )
            assert_problem(response, 422)


class TestMarkOneRead:
    async def test_marks_it_and_answers_it(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        newer, older = await commented(app, client, ana, [bob, cid])
        for _ in range(2):  # again is fine
            response = await client.post(f"{API}/notifications/{older}/read", headers=ana.headers)
            assert response.status_code == 200
            assert response.json()["id"] == older
            assert response.json()["read"] is True
        read = {item["id"]: item["read"] for item in await inbox(app, client, ana)}
        assert read == {newer: False, older: True}

    async def test_someone_elses_is_404_and_stays_unread(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        [bobs] = await commented(app, client, bob, [ana])
        response = await client.post(f"{API}/notifications/{bobs}/read", headers=ana.headers)
        assert_problem(response, 404)
        missing = await client.post(f"{API}/notifications/1/read", headers=ana.headers)
        assert missing.json() == response.json()
        assert await unread(app, client, bob) == 1

    async def test_an_id_that_is_no_number_is_422(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        [ana] = await people(1)
        response = await client.post(f"{API}/notifications/x1/read", headers=ana.headers)
        assert_problem(response, 422)
