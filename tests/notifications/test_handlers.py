"""The notifications consumer: who hears of what, made from events after the request.

Each test acts through the API, lets the events be handled (`settle`), and
reads what each person was told.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from minifb.kit import dead_letters
from minifb.kit.outbox import record_event
from minifb.notifications.handlers import CONSUMER, Notice, deliver
from minifb.notifications.schemas import NotificationRead
from tests.factories import People, Person, befriend, block, comment, create_post, react
from tests.fixtures.events import Events, settle
from tests.fixtures.http import API
from tests.fixtures.queries import QueryLog
from tests.notifications.helpers import inbox, kinds


async def mute(client: httpx.AsyncClient, who: Person, **types: bool) -> dict[str, Any]:
    response = await client.patch(
        f"{API}/users/me", json={"settings": {"notifications": types}}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()["settings"]["notifications"]
    return settings


class TestWhatIsDeleted:
    async def test_a_deleted_post_takes_its_notifications_along(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana, f"hello @{cid.username}")
        other = await create_post(client, ana)
        await comment(client, bob, post["id"])
        await react(client, bob, f"posts/{post['id']}")
        await comment(client, bob, other["id"])
        assert kinds(await inbox(app, client, ana)) == [
            "post_comment",
            "post_reaction",
            "post_comment",
        ]
        assert kinds(await inbox(app, client, cid)) == ["mention"]
        deleted = await client.delete(f"{API}/posts/{post['id']}", headers=ana.headers)
        assert deleted.status_code == 204, deleted.text
        [left] = await inbox(app, client, ana)
        assert left["post_id"] == other["id"]
        assert await inbox(app, client, cid) == []
        count = await client.get(f"{API}/notifications/unread-count", headers=ana.headers)
        assert count.json() == {"count": 1}

    async def test_a_deleted_comment_takes_its_own_and_its_replies_along(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        top = await comment(client, bob, post["id"])
        await comment(client, cid, post["id"], f"yes @{ana.username}", parent_id=top["id"])
        kept = await comment(client, cid, post["id"], "another")
        assert kinds(await inbox(app, client, bob)) == ["comment_reply"]
        assert len(await inbox(app, client, ana)) == 3
        deleted = await client.delete(f"{API}/comments/{top['id']}", headers=bob.headers)
        assert deleted.status_code == 204, deleted.text
        assert await inbox(app, client, bob) == []
        [left] = await inbox(app, client, ana)
        assert left["comment_id"] == kept["id"]

    async def test_an_event_about_what_was_deleted_since_tells_nobody(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        made = await comment(client, bob, post["id"])
        await settle(app)
        await client.delete(f"{API}/posts/{post['id']}", headers=ana.headers)
        await settle(app)
        # The comment's event again, as a redelivery after the deletion would bring it.
        async with app.state.container.db.transaction() as session:
            data = {
                "comment_id": made["id"],
                "post_id": post["id"],
                "author_id": bob.id,
                "post_author_id": ana.id,
            }
            record_event(session, "comment.created", actor_id=int(bob.id), data=data)
        assert await inbox(app, client, ana) == []


class TestFriendRequests:
    async def test_the_person_asked_hears_of_it_and_the_sender_of_the_acceptance(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        sent = await client.post(
            f"{API}/friend-requests", json={"user_id": bob.id}, headers=ana.headers
        )
        [asked] = await inbox(app, client, bob)
        NotificationRead.model_validate(asked)
        assert asked["type"] == "friend_request"
        assert asked["actor"]["id"] == ana.id
        assert asked["actor"]["username"] == ana.username
        assert asked["actor_count"] == 1
        assert asked["text"].endswith(" sent you a friend request.")
        assert asked["read"] is False
        assert await inbox(app, client, ana) == []

        await client.post(f"{API}/friend-requests/{sent.json()['id']}/accept", headers=bob.headers)
        [accepted] = await inbox(app, client, ana)
        assert accepted["type"] == "friend_accepted"
        assert accepted["actor"]["id"] == bob.id
        assert accepted["text"].endswith(" accepted your friend request.")
        assert kinds(await inbox(app, client, bob)) == ["friend_request"]

    async def test_crossing_requests_tell_the_first_sender_it_was_accepted(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        await client.post(f"{API}/friend-requests", json={"user_id": bob.id}, headers=ana.headers)
        await client.post(f"{API}/friend-requests", json={"user_id": ana.id}, headers=bob.headers)
        [accepted] = await inbox(app, client, ana)
        assert (accepted["type"], accepted["actor"]["id"]) == ("friend_accepted", bob.id)


class TestComments:
    async def test_the_post_author_hears_of_a_comment(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        made = await comment(client, bob, post["id"])
        [heard] = await inbox(app, client, ana)
        assert heard["type"] == "post_comment"
        assert heard["actor"]["id"] == bob.id
        assert heard["post_id"] == post["id"]
        assert heard["comment_id"] == made["id"]
        assert heard["text"].endswith(" commented on your post.")

    async def test_nobody_hears_of_their_own_comment(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        [ana] = await people(1)
        post = await create_post(client, ana)
        top = await comment(client, ana, post["id"])
        await comment(client, ana, post["id"], "me again", parent_id=top["id"])
        assert await inbox(app, client, ana) == []

    async def test_a_reply_tells_the_comment_author_and_the_post_author(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        top = await comment(client, bob, post["id"])
        reply = await comment(client, cid, post["id"], "indeed", parent_id=top["id"])
        [replied] = await inbox(app, client, bob)
        assert replied["type"] == "comment_reply"
        assert replied["actor"]["id"] == cid.id
        assert replied["comment_id"] == reply["id"]
        assert replied["text"].endswith(" replied to your comment.")
        assert kinds(await inbox(app, client, ana)) == ["post_comment", "post_comment"]

    async def test_a_reply_to_the_post_authors_own_comment_is_one_notification(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        top = await comment(client, ana, post["id"])
        await comment(client, bob, post["id"], "yes", parent_id=top["id"])
        assert kinds(await inbox(app, client, ana)) == ["comment_reply"]

    async def test_someone_blocked_before_the_event_is_handled_is_not_heard(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        await comment(client, bob, post["id"])
        await block(client, ana, bob)  # before the consumer gets to the comment
        assert await inbox(app, client, ana) == []

    async def test_a_block_either_way_hides_what_was_made_before_it(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        await comment(client, bob, post["id"])
        assert len(await inbox(app, client, ana)) == 1
        await block(client, bob, ana)  # blocked by the actor this time
        assert await inbox(app, client, ana) == []
        count = await client.get(f"{API}/notifications/unread-count", headers=ana.headers)
        assert count.json() == {"count": 0}


class TestReactions:
    async def test_reactions_to_a_post_are_one_notification_that_grows(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bob, cid, dan = await people(4)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        [first] = await inbox(app, client, ana)
        assert first["type"] == "post_reaction"
        assert first["actor_count"] == 1
        assert first["text"].endswith(" reacted to your post.")
        await react(client, cid, f"posts/{post['id']}", "love")
        await react(client, dan, f"posts/{post['id']}", "haha")
        [grown] = await inbox(app, client, ana)
        assert grown["id"] == first["id"]
        assert grown["actor"]["id"] == dan.id  # the newest reactor
        assert grown["actor_count"] == 3
        assert (
            grown["text"] == f"{grown['actor']['display_name']} and 2 others reacted to your post."
        )
        assert grown["updated_at"] > first["updated_at"]
        # Each change was pushed: one event per notification made or grown.
        pushed = await events("notification.created")
        assert [e["notification"]["actor_count"] for e in pushed] == [1, 2, 3]
        assert all(e["user_id"] == ana.id for e in pushed)
        assert pushed[-1]["notification"] == grown

    async def test_one_other_is_said_in_the_singular(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        await react(client, cid, f"posts/{post['id']}")
        [grown] = await inbox(app, client, ana)
        assert grown["text"].endswith(" and 1 other reacted to your post.")

    async def test_someone_reacting_again_or_changing_counts_once(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        await react(client, bob, f"posts/{post['id']}", "love")
        removed = await client.delete(f"{API}/posts/{post['id']}/reaction", headers=bob.headers)
        assert removed.status_code == 204
        await react(client, bob, f"posts/{post['id']}", "wow")
        [one] = await inbox(app, client, ana)
        assert one["actor_count"] == 1
        assert len(await events("notification.created")) == 1

    async def test_a_group_that_grows_comes_back_to_the_top(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        await comment(client, cid, post["id"])
        assert kinds(await inbox(app, client, ana)) == ["post_comment", "post_reaction"]
        await react(client, cid, f"posts/{post['id']}")
        assert kinds(await inbox(app, client, ana)) == ["post_reaction", "post_comment"]

    async def test_once_read_a_new_reaction_starts_a_new_group(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        [first] = await inbox(app, client, ana)
        await client.post(f"{API}/notifications/{first['id']}/read", headers=ana.headers)
        await react(client, cid, f"posts/{post['id']}")
        newer, older = await inbox(app, client, ana)
        assert older["id"] == first["id"]
        assert (older["actor_count"], older["read"]) == (1, True)
        assert (newer["actor"]["id"], newer["actor_count"], newer["read"]) == (cid.id, 1, False)

    async def test_each_post_has_its_own_group(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        one, two = await create_post(client, ana), await create_post(client, ana)
        await react(client, bob, f"posts/{one['id']}")
        await react(client, bob, f"posts/{two['id']}")
        items = await inbox(app, client, ana)
        assert [i["post_id"] for i in items] == [two["id"], one["id"]]

    async def test_own_reactions_and_reactions_to_comments_tell_nobody(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        await react(client, ana, f"posts/{post['id']}")
        made = await comment(client, ana, post["id"])
        await react(client, bob, f"comments/{made['id']}")
        assert await inbox(app, client, ana) == []


class TestMentions:
    async def test_a_mention_in_a_public_post(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana, f"lunch with @{bob.username.upper()}?")
        [heard] = await inbox(app, client, bob)
        assert heard["type"] == "mention"
        assert heard["actor"]["id"] == ana.id
        assert (heard["post_id"], heard["comment_id"]) == (post["id"], None)
        assert heard["text"].endswith(" mentioned you in a post.")

    async def test_a_mention_in_a_comment(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        made = await comment(client, bob, post["id"], f"@{cid.username} look")
        [heard] = await inbox(app, client, cid)
        assert heard["type"] == "mention"
        assert heard["comment_id"] == made["id"]
        assert heard["text"].endswith(" mentioned you in a comment.")

    async def test_only_people_who_may_see_the_post_hear_of_it(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, friend, stranger = await people(3)
        await befriend(client, ana, friend)
        await settle(app)
        text = f"@{friend.username} and @{stranger.username}"
        await create_post(client, ana, text, visibility="friends")
        await create_post(client, ana, text, visibility="only_me")
        assert kinds(await inbox(app, client, friend)) == ["mention", "friend_request"]
        assert await inbox(app, client, stranger) == []

    async def test_nobody_hidden_from_the_commenter_hears_of_a_comment(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob, cid = await people(3)
        post = await create_post(client, ana)
        await block(client, cid, bob)
        await comment(client, bob, post["id"], f"hi @{cid.username}")
        assert await inbox(app, client, cid) == []

    async def test_the_post_author_mentioned_in_a_comment_hears_of_the_comment_once(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana)
        await comment(client, bob, post["id"], f"@{ana.username} agreed")
        assert kinds(await inbox(app, client, ana)) == ["post_comment"]

    async def test_oneself_nobody_and_addresses_are_not_mentions(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        await create_post(
            client, ana, f"@{ana.username} @nobody_here mail {bob.username}@example.com"
        )
        assert await inbox(app, client, ana) == []
        assert await inbox(app, client, bob) == []

    async def test_the_events_carry_the_mentioned_usernames(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bob = await people(2)
        post = await create_post(client, ana, f"@{bob.username} @{bob.username} @Someone_Else")
        await comment(client, ana, post["id"], "no one")
        [created] = await events("post.created")
        assert created["mentions"] == [bob.username, "someone_else"]
        [commented] = await events("comment.created")
        assert commented["mentions"] == []

    async def test_a_post_that_mentions_nobody_costs_no_query(
        self, app: FastAPI, queries: QueryLog
    ) -> None:
        # Most posts: nobody to tell, so nothing to look up, not even the post.
        async with app.state.container.db.transaction() as session:
            queries.recording = True
            made = await deliver(session, Notice(actor_id=1, post_id=2))
            queries.recording = False
        assert made == []
        assert queries.selects() == []


class TestPreferences:
    async def test_every_type_is_on_until_turned_off(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        [ana] = await people(1)
        me = await client.get(f"{API}/users/me", headers=ana.headers)
        assert me.json()["settings"]["notifications"] == {
            "friend_request": True,
            "friend_accepted": True,
            "post_comment": True,
            "comment_reply": True,
            "post_reaction": True,
            "mention": True,
        }

    async def test_a_change_names_only_the_types_it_turns_on_or_off(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        [ana] = await people(1)
        settings = await mute(client, ana, post_reaction=False, mention=False)
        assert (settings["post_reaction"], settings["mention"]) == (False, False)
        settings = await mute(client, ana, mention=True)
        assert (settings["post_reaction"], settings["mention"]) == (False, True)
        assert all(on for kind, on in settings.items() if kind != "post_reaction")
        updated = await events("user.updated")
        assert [e["fields"] for e in updated] == [["settings.notifications"]] * 2

    async def test_a_muted_type_is_neither_kept_nor_pushed(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bob = await people(2)
        await mute(client, ana, post_reaction=False)
        post = await create_post(client, ana)
        await react(client, bob, f"posts/{post['id']}")
        await comment(client, bob, post["id"])
        assert kinds(await inbox(app, client, ana)) == ["post_comment"]
        assert [e["notification"]["type"] for e in await events("notification.created")] == [
            "post_comment"
        ]

    async def test_a_muted_reply_falls_back_to_the_comment_on_ones_post(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        await mute(client, ana, comment_reply=False)
        post = await create_post(client, ana)
        top = await comment(client, ana, post["id"])
        await comment(client, bob, post["id"], "yes", parent_id=top["id"])
        assert kinds(await inbox(app, client, ana)) == ["post_comment"]

    async def test_unknown_types_and_null_are_refused(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        [ana] = await people(1)
        for body in ({"poke": False}, {"mention": None}, {"mention": "off"}):
            response = await client.patch(
                f"{API}/users/me", json={"settings": {"notifications": body}}, headers=ana.headers
            )
            assert response.status_code == 422, body


class TestAPoisonEvent:
    async def test_is_parked_and_the_notifications_after_it_are_made(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bob = await people(2)
        container = app.state.container
        # An event the consumer cannot read (no addressee), as a bug upstream could write.
        async with container.db.transaction() as session:
            poison = record_event(
                session, "friend.requested", actor_id=int(bob.id), data={"from_user_id": bob.id}
            )
        await client.post(f"{API}/friend-requests", json={"user_id": ana.id}, headers=bob.headers)
        assert kinds(await inbox(app, client, ana)) == ["friend_request"]
        [letter] = await dead_letters.list_parked(container.db)
        assert (letter.consumer, letter.event_id) == (CONSUMER, poison)
        assert letter.attempts == dead_letters.ATTEMPTS
        assert letter.error == "KeyError: 'to_user_id'"
