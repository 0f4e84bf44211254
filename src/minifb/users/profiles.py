"""Profiles: creating, reading and changing a person's public face.

Also the helpers the other use cases of this package share: turning rows
into response shapes and refusing an action aimed at oneself. Other services
reach what they need of it through `service.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.models import User
from minifb.users import repository as repo
from minifb.users.exceptions import EmailTaken, NotYourself, UsernameTaken, UserNotFound
from minifb.users.schemas import (
    NotificationSettings,
    PersonRead,
    UserMe,
    UserRead,
    UserSettings,
    UserUpdate,
)


async def create_user(
    session: AsyncSession, *, username: str, email: str, display_name: str
) -> User:
    """Create a profile (the auth service adds the credentials); emits `user.registered`."""
    email = email.strip().lower()
    if await repo.username_exists(session, username):
        raise UsernameTaken()
    if await repo.email_exists(session, email):
        raise EmailTaken()
    user = User(id=new_id(), username=username, email=email, display_name=display_name, bio="")
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Lost a race with a concurrent sign-up for the same name or email.
        raise EmailTaken() if "email" in str(exc.orig).lower() else UsernameTaken() from None
    record_event(
        session,
        "user.registered",
        actor_id=user.id,
        data={"user_id": str(user.id), "username": user.username},
    )
    return user


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """The account a login name (username or email) refers to, if any."""
    return await repo.find_by_login(session, login)


async def get_visible_user(session: AsyncSession, viewer_id: int, user_id: int) -> User:
    """A person as `viewer_id` may see them: blocked either way reads as not found."""
    user = await repo.get_user(session, user_id)
    if user is None or (
        viewer_id != user_id and await repo.is_blocked_either_way(session, viewer_id, user_id)
    ):
        raise UserNotFound()
    return user


class Recipient(NamedTuple):
    """A person to notify: who, under which name, and the notification types they turned off."""

    id: int
    username: str
    muted: frozenset[str]


async def recipients(
    session: AsyncSession, *, ids: Collection[int] = (), usernames: Collection[str] = ()
) -> list[Recipient]:
    """The people of these ids and (lower-cased) usernames who exist, in one query."""
    rows = await repo.notice_settings(session, ids, usernames)
    return [Recipient(id_, name, frozenset(muted or ())) for id_, name, muted in rows]


def me(user: User) -> UserMe:
    """The owner's own view of a profile, with email and settings."""
    return UserMe(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=user.avatar_url,
        created_at=user.created_at,
        email=user.email,
        settings=UserSettings(
            friend_requests_from=user.friend_request_policy,
            messages_from=user.messages_from,
            active_status=user.active_status,
            notifications=NotificationSettings.muting(user.muted_notifications),
        ),
    )


def read(user: User) -> UserRead:
    """A profile as others see it."""
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=user.avatar_url,
        created_at=user.created_at,
    )


def person(user: User, mutual_friends: int) -> PersonRead:
    """A profile in a list of people, with the friends it shares with the viewer."""
    return PersonRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=user.avatar_url,
        created_at=user.created_at,
        mutual_friends=mutual_friends,
    )


async def people_page(
    session: AsyncSession, viewer_id: int, rows: Sequence[repo.UserRow], params: PageParams
) -> Page[PersonRead]:
    """A page of `(user, cursor key)` rows with mutual-friend counts from one grouped query."""
    items, cursor = page_of(rows, params, key=lambda row: row[1])
    counts = await repo.mutual_friend_counts(session, viewer_id, [u.id for u, _ in items])
    return Page(items=[person(u, counts.get(u.id, 0)) for u, _ in items], next_cursor=cursor)


def refuse_self(viewer_id: int, user_id: int, detail: str, *, loc: list[str]) -> None:
    """Refuse (422) an action on another person that names the actor."""
    if viewer_id == user_id:
        raise NotYourself(detail, loc=loc)


async def get_me(session: AsyncSession, viewer_id: int) -> UserMe:
    """The viewer's own profile, with email and settings."""
    user = await repo.get_user(session, viewer_id)
    if user is None:
        raise UserNotFound()
    return me(user)


async def get_profile(session: AsyncSession, viewer_id: int, user_id: int) -> UserRead:
    """Someone's public profile; missing and blocked (either way) both answer 404."""
    return read(await get_visible_user(session, viewer_id, user_id))


async def lookup(session: AsyncSession, viewer_id: int, username: str) -> Page[UserRead]:
    """The person with exactly this username (any case): a page of zero or one."""
    user = await repo.find_visible_by_username(session, viewer_id, username.strip().lower())
    return Page(items=[read(user)] if user else [], next_cursor=None)


# The settings stored as they are given: each one's column on `users`.
_SETTING_COLUMNS = {
    "friend_requests_from": "friend_request_policy",
    "messages_from": "messages_from",
    "active_status": "active_status",
}


async def update_me(
    session: AsyncSession, viewer_id: int, body: UserUpdate, *, avatar_url: str | None = None
) -> UserMe:
    """Change the given fields of one's own profile; emits `user.updated` if anything changed.
    `avatar_url` is that of `body.avatar_media_id`, from the media service."""
    user = await repo.get_user(session, viewer_id)
    if user is None:
        raise UserNotFound()
    changed: list[str] = []
    if body.display_name is not None and body.display_name != user.display_name:
        user.display_name = body.display_name
        changed.append("display_name")
    if body.bio is not None and body.bio != user.bio:
        user.bio = body.bio
        changed.append("bio")
    if "avatar_media_id" in body.model_fields_set and body.avatar_media_id != user.avatar_media_id:
        # The endpoint checked the media and made its URL (`media.service.avatar_url`).
        user.avatar_url = avatar_url if body.avatar_media_id is not None else None
        user.avatar_media_id = body.avatar_media_id
        changed.append("avatar_url")
    # Only the settings named in the body change: `{"settings": {}}` resets nothing.
    given = set() if body.settings is None else body.settings.model_fields_set
    for setting, column in _SETTING_COLUMNS.items():
        if setting in given and (value := getattr(body.settings, setting)) != getattr(user, column):
            setattr(user, column, value)
            changed.append(f"settings.{setting}")
    if body.settings is not None and "notifications" in body.settings.model_fields_set:
        named = body.settings.notifications.model_dump(
            include=body.settings.notifications.model_fields_set
        )
        muted = sorted(
            {t for t in user.muted_notifications if named.get(t, False) is False}
            | {t for t, on in named.items() if not on}
        )
        if muted != sorted(user.muted_notifications):
            user.muted_notifications = muted
            changed.append("settings.notifications")
    if changed:
        await session.flush()
        record_event(
            session,
            "user.updated",
            actor_id=user.id,
            data={
                "user_id": str(user.id),
                "fields": changed,
                "username": user.username,
                "display_name": user.display_name,
            },
        )
    return me(user)
