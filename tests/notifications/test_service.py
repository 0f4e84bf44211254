"""Making notifications: a reaction group made by two processes at once stays one."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.models import NotificationType
from minifb.notifications import repository, service
from tests.factories import People, create_post
from tests.notifications.helpers import inbox


class TestAReactionGroupMadeTwiceAtOnce:
    async def test_the_one_that_comes_second_joins_the_first(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        people: People,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        db = app.state.container.db
        async with db.transaction() as session:
            first = await service.notify(
                session,
                int(ana.id),
                NotificationType.post_reaction,
                actor_id=int(bob.id),
                post_id=int(post["id"]),
            )
        # The second does not see the first group (made by another process meanwhile):
        # the unique index refuses a second unread group, and it joins the first.
        looked = repository.unread_group
        calls: list[int] = []

        async def late(session: AsyncSession, user_id: int, post_id: int) -> int | None:
            calls.append(post_id)
            return None if len(calls) == 1 else await looked(session, user_id, post_id)

        monkeypatch.setattr(repository, "unread_group", late)
        async with db.transaction() as session:
            second = await service.notify(
                session,
                int(ana.id),
                NotificationType.post_reaction,
                actor_id=int(cid.id),
                post_id=int(post["id"]),
            )
        assert second == first
        assert len(calls) == 2
        [group] = await inbox(app, client, ana)
        assert (group["id"], group["actor_count"]) == (str(first), 2)
