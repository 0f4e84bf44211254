from __future__ import annotations

from typing import Any

from minifb.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class UserNotFound(NotFound):
    code = "user-not-found"

    def __init__(self) -> None:
        super().__init__("No such person.")


class UsernameTaken(Conflict):
    code = "username-taken"

    def __init__(self) -> None:
        super().__init__("That username is taken.")


class EmailTaken(Conflict):
    code = "email-taken"

    def __init__(self) -> None:
        super().__init__("An account with that email already exists.")


class NotYourself(InvalidInput):
    """An action that needs another person was aimed at oneself."""

    def __init__(self, detail: str, *, loc: list[str]) -> None:
        error: dict[str, Any] = {"loc": loc, "msg": detail, "type": "value_error"}
        super().__init__(detail, errors=[error])


class FriendRequestNotFound(NotFound):
    code = "friend-request-not-found"

    def __init__(self) -> None:
        super().__init__("No such friend request.")


class NotTheAddressee(Forbidden):
    code = "not-the-addressee"

    def __init__(self) -> None:
        super().__init__("Only the person a friend request is addressed to can answer it.")


class FriendRequestExists(Conflict):
    code = "friend-request-exists"

    def __init__(self) -> None:
        super().__init__("You have already sent this person a friend request.")


class AlreadyFriends(Conflict):
    code = "already-friends"

    def __init__(self) -> None:
        super().__init__("You are already friends.")


class FriendRequestsNotAccepted(Forbidden):
    code = "friend-requests-not-accepted"

    def __init__(self) -> None:
        super().__init__("This person does not accept friend requests from you.")


class NotFriends(NotFound):
    code = "not-friends"

    def __init__(self) -> None:
        super().__init__("You are not friends with this person.")


class NotTheSender(Forbidden):
    code = "not-the-sender"

    def __init__(self) -> None:
        super().__init__("Only the person who sent a friend request can cancel it.")
