"""Who may befriend whom, asked of the friend-request service directly.

The HTTP suites (test_friend_requests.py, test_blocks.py) show what a client
sees; here each rule of `users/friend_requests.py` stands on its own: the
service function is called with a session, as an endpoint calls it, and the
test reads what it returned or raised and what it left in the tables. Each
step runs in a transaction of its own, as one request would.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from minifb.kit.db import Database
from minifb.kit.errors import AppError
from minifb.kit.ids import new_id
from minifb.models import FriendRequest, FriendRequestPolicy, Friendship, OutboxEvent, User
from minifb.users import blocks, friend_requests
from minifb.users.exceptions import (
    AlreadyFriends,
    FriendRequestExists,
    FriendRequestNotFound,
    FriendRequestsNotAccepted,
    NotTheAddressee,
    NotYourself,
    UserNotFound,
)
from minifb.users.schemas import FriendRequestRead

_names = itertools.count(1)

EVERYONE = FriendRequestPolicy.everyone
FRIENDS_OF_FRIENDS = FriendRequestPolicy.friends_of_friends
NOBODY = FriendRequestPolicy.nobody


async def person(db: Database, policy: FriendRequestPolicy = EVERYONE) -> int:
    """A new person taking friend requests from `policy`; their id."""
    n = next(_names)
    user = User(
        id=new_id(),
        username=f"rule_{n}",
        email=f"rule_{n}@example.com",
        display_name=f"Rule {n}",
        bio="",
        friend_request_policy=policy,
    )
    async with db.transaction() as session:
        session.add(user)
    return user.id


async def set_policy(db: Database, who: int, policy: FriendRequestPolicy) -> None:
    async with db.transaction() as session:
        user = await session.get(User, who)
        assert user is not None
        user.friend_request_policy = policy


async def ask(db: Database, sender: int, to: int) -> FriendRequestRead:
    """`sender` asks `to` to be friends."""
    async with db.transaction() as session:
        return await friend_requests.send(session, sender, to)


async def accept(db: Database, who: int, request_id: int) -> FriendRequestRead:
    async with db.transaction() as session:
        return await friend_requests.accept(session, who, request_id)


async def block(db: Database, blocker: int, blocked: int) -> None:
    async with db.transaction() as session:
        await blocks.block(session, blocker, blocked)


async def befriend(db: Database, a: int, b: int) -> None:
    request = await ask(db, a, b)
    await accept(db, b, request.id)


async def are_friends(db: Database, a: int, b: int) -> bool:
    """Friends both ways (one row per direction), or not at all."""
    async with db.transaction() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(Friendship)
            .where(
                ((Friendship.user_id == a) & (Friendship.friend_id == b))
                | ((Friendship.user_id == b) & (Friendship.friend_id == a))
            )
        )
    assert rows in (0, 2), rows
    return rows == 2


async def pending(db: Database) -> set[tuple[int, int]]:
    """Every pending request, as (from, to)."""
    async with db.transaction() as session:
        rows = await session.execute(select(FriendRequest.from_user_id, FriendRequest.to_user_id))
        return {(sender, to) for sender, to in rows}


async def events(db: Database, type_: str) -> int:
    async with db.transaction() as session:
        found = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == type_)
        )
        return int(found or 0)


async def refused(db: Database, sender: int, to: int, error: type[AppError]) -> None:
    """`sender` may not ask `to`: `error` is raised, and nothing is written."""
    before = (await pending(db), await events(db, "friend.requested"))
    with pytest.raises(error):
        await ask(db, sender, to)
    assert (await pending(db), await events(db, "friend.requested")) == before


class TestAnyoneMayAskSomeoneWhoTakesRequestsFromEveryone:
    async def test_a_stranger_may_ask(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        assert request.status == "pending"
        assert (request.from_user.id, request.to_user.id) == (alice, bob)
        assert await pending(db) == {(alice, bob)}
        assert await events(db, "friend.requested") == 1
        assert not await are_friends(db, alice, bob)

    async def test_the_addressee_accepting_makes_them_friends(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        answer = await accept(db, bob, request.id)
        assert answer.status == "accepted"
        assert await are_friends(db, alice, bob)
        assert await pending(db) == set()


class TestNobodyMayAskThemselves:
    async def test_asking_oneself_is_refused(self, db: Database) -> None:
        alice = await person(db)
        await refused(db, alice, alice, NotYourself)

    async def test_even_with_requests_from_everyone(self, db: Database) -> None:
        alice = await person(db, EVERYONE)
        with pytest.raises(NotYourself):
            await ask(db, alice, alice)


class TestTheReceiversSettingDecides:
    async def test_nobody_may_ask_someone_who_takes_no_requests(self, db: Database) -> None:
        alice, hermit = await person(db), await person(db, NOBODY)
        await refused(db, alice, hermit, FriendRequestsNotAccepted)

    async def test_a_stranger_may_not_ask_someone_who_takes_friends_of_friends(
        self, db: Database
    ) -> None:
        alice, careful = await person(db), await person(db, FRIENDS_OF_FRIENDS)
        await refused(db, alice, careful, FriendRequestsNotAccepted)

    async def test_a_friend_of_a_friend_may_ask_them(self, db: Database) -> None:
        alice, carol, careful = await person(db), await person(db), await person(db)
        await befriend(db, alice, carol)
        await befriend(db, carol, careful)
        await set_policy(db, careful, FRIENDS_OF_FRIENDS)
        assert (await ask(db, alice, careful)).status == "pending"

    async def test_the_senders_own_setting_does_not_matter(self, db: Database) -> None:
        hermit, bob = await person(db, NOBODY), await person(db)
        assert (await ask(db, hermit, bob)).status == "pending"

    async def test_a_setting_changed_later_does_not_undo_a_request_already_made(
        self, db: Database
    ) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        await set_policy(db, bob, NOBODY)
        assert (await accept(db, bob, request.id)).status == "accepted"
        assert await are_friends(db, alice, bob)

    async def test_someone_who_was_asked_may_always_ask_back(self, db: Database) -> None:
        # Asking back answers the request: it is accepted whatever the asker's setting.
        hermit, bob = await person(db, NOBODY), await person(db)
        await ask(db, hermit, bob)
        answer = await ask(db, bob, hermit)
        assert answer.status == "accepted"
        assert await are_friends(db, hermit, bob)
        assert await pending(db) == set()


class TestABlockEitherWayStopsAsking:
    async def test_the_blocked_person_may_not_ask(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        await block(db, alice, bob)
        # Someone who blocked you does not exist for you.
        await refused(db, bob, alice, UserNotFound)

    async def test_the_blocker_may_not_ask_either(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        await block(db, alice, bob)
        await refused(db, alice, bob, UserNotFound)

    async def test_a_block_ends_a_pending_request_so_it_cannot_be_accepted(
        self, db: Database
    ) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        await block(db, alice, bob)
        assert await pending(db) == set()
        with pytest.raises(FriendRequestNotFound):
            await accept(db, bob, request.id)
        assert not await are_friends(db, alice, bob)

    async def test_a_block_by_the_addressee_ends_the_request_too(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        await block(db, bob, alice)
        with pytest.raises(FriendRequestNotFound):
            await accept(db, bob, request.id)


class TestOneRequestAndOneFriendshipPerPair:
    async def test_friends_may_not_ask_again(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        await befriend(db, alice, bob)
        await refused(db, alice, bob, AlreadyFriends)
        await refused(db, bob, alice, AlreadyFriends)

    async def test_a_second_request_is_refused_while_the_first_waits(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        await ask(db, alice, bob)
        await refused(db, alice, bob, FriendRequestExists)

    async def test_a_missing_person_cannot_be_asked(self, db: Database) -> None:
        alice = await person(db)
        await refused(db, alice, new_id(), UserNotFound)


class TestOnlyTheAddresseeMayAccept:
    async def test_the_sender_may_not_accept_their_own_request(self, db: Database) -> None:
        alice, bob = await person(db), await person(db)
        request = await ask(db, alice, bob)
        with pytest.raises(NotTheAddressee):
            await accept(db, alice, request.id)
        assert await pending(db) == {(alice, bob)}

    async def test_for_anyone_else_the_request_does_not_exist(self, db: Database) -> None:
        alice, bob, carol = await person(db), await person(db), await person(db)
        request = await ask(db, alice, bob)
        with pytest.raises(FriendRequestNotFound):
            await accept(db, carol, request.id)
        assert await pending(db) == {(alice, bob)}
        assert not await are_friends(db, carol, alice)
