"""The visibility rule, written in Python (`may_see`) and in SQL (`visible_sql`, and
`visible_text` as raw SQL), says the same thing on every case.

Below the HTTP routes: the people and their ties are made through the API,
then each viewer's answer is asked of the rule itself, in Python and in SQL,
on the database of the tier under test. `test_visibility_matrix.py` checks
what each read path answers; this file checks the two writings of the rule
behind them against each other and against the table.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from minifb.models import Post
from minifb.models.post import Visibility
from minifb.posts import repository as repo
from minifb.posts.visibility import Relations, may_see, visible_sql, visible_text
from tests.factories import Person, befriend, block, create_post, follow, register

# What each viewer may see of the author's posts, written out.
ALLOWED: dict[str, set[Visibility]] = {
    "self": {Visibility.public, Visibility.friends, Visibility.only_me},
    "friend": {Visibility.public, Visibility.friends},
    "follower": {Visibility.public},
    "stranger": {Visibility.public},
    "blocked": set(),  # the author blocked them
    "blocking": set(),  # they blocked the author
}


@pytest.fixture
async def world(client: httpx.AsyncClient) -> tuple[Person, dict[str, Person]]:
    """An author with one post of each visibility, and a viewer in each relation to them."""
    author = await register(client)
    viewers = {"self": author}
    for role in ALLOWED:
        if role == "self":
            continue
        viewer = viewers[role] = await register(client)
        if role in ("friend", "blocked", "blocking"):
            # Friends first: a block outweighs (and ends) a friendship.
            await befriend(client, author, viewer)
        if role == "follower":
            await follow(client, viewer, author)
        if role == "blocked":
            await block(client, author, viewer)
        if role == "blocking":
            await block(client, viewer, author)
    for visibility in Visibility:
        await create_post(client, author, str(visibility), visibility=str(visibility))
    return author, viewers


async def answers(app: FastAPI, viewer_id: int, author_id: int) -> dict[str, set[Visibility]]:
    """The visibilities of the author's posts the viewer may see, by each writing of the rule."""
    db = app.state.container.db
    viewer, author = ("$1", "$2") if db.dialect == "postgresql" else ("?1", "?2")
    # As the feed's merge of big authors uses it: raw SQL on the driver.
    where = f"author_id = {author} AND {visible_text(viewer)}"
    text = f"SELECT visibility FROM posts WHERE {where}"  # noqa: S608 - placeholders only
    in_text = {Visibility(row[0]) for row in await db.fetch(text, viewer_id, author_id)}
    async with db.transaction() as session:
        rel = await repo.relations(session, viewer_id, [author_id])
        posts = select(Post.visibility).where(Post.author_id == author_id)
        return {
            "visible_text": in_text,
            "may_see": {v for v in Visibility if may_see(viewer_id, author_id, v, rel)},
            # As the feed's merge and backfill use it: the ties as subqueries.
            "visible_sql": set(await session.scalars(posts.where(visible_sql(viewer_id)))),
            # As the timeline and the feed rebuild use it: the ties in hand.
            "visible_sql with ties": set(
                await session.scalars(posts.where(visible_sql(viewer_id, rel)))
            ),
        }


class TestTheTwoWritingsAgree:
    async def test_on_every_viewer_and_visibility(
        self, app: FastAPI, world: tuple[Person, dict[str, Person]]
    ) -> None:
        author, viewers = world
        for role, viewer in viewers.items():
            found = await answers(app, int(viewer.id), int(author.id))
            for writing, visible in found.items():
                assert visible == ALLOWED[role], f"{writing}, viewer {role}"


class TestTiesInHand:
    @pytest.mark.parametrize(
        "ties",
        [
            Relations(),
            Relations(friends=frozenset({0})),
            Relations(hidden=frozenset({0})),
            Relations(friends=frozenset({0}), hidden=frozenset({0})),
        ],
        ids=["none", "friend", "hidden", "friend-and-hidden"],
    )
    @pytest.mark.parametrize("role", ["self", "stranger"])
    async def test_both_writings_read_the_same_ties_the_same_way(
        self,
        app: FastAPI,
        world: tuple[Person, dict[str, Person]],
        ties: Relations,
        role: str,
    ) -> None:
        # Given ties (0 stands for the author), the SQL consults nothing else:
        # both writings answer from them alone, whatever the database holds.
        author, viewers = world
        author_id, viewer_id = int(author.id), int(viewers[role].id)
        rel = Relations(
            friends=frozenset(author_id for _ in ties.friends),
            hidden=frozenset(author_id for _ in ties.hidden),
        )
        async with app.state.container.db.transaction() as session:
            posts = select(Post.visibility).where(Post.author_id == author_id)
            in_sql = set(await session.scalars(posts.where(visible_sql(viewer_id, rel))))
        assert in_sql == {v for v in Visibility if may_see(viewer_id, author_id, v, rel)}
