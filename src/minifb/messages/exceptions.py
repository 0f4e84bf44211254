"""Errors of the messages service."""

from __future__ import annotations

from typing import Any

from minifb.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class ConversationNotFound(NotFound):
    """No such conversation, or one you are not a member of: the two are indistinguishable."""

    code = "conversation-not-found"

    def __init__(self) -> None:
        super().__init__("No such conversation.")


class MessagesNotAccepted(Forbidden):
    """A person you named accepts messages from friends only, and you are not friends."""

    code = "messages-not-accepted"

    def __init__(self) -> None:
        super().__init__("This person accepts messages from friends only.")


class BlockedConversation(Forbidden):
    """A block between the two people of this direct conversation: nobody may write in it."""

    code = "blocked"

    def __init__(self) -> None:
        super().__init__("You cannot write in this conversation.")


class NotAGroup(Conflict):
    """Only a group takes new members or can be left; a direct conversation stays as it is."""

    code = "not-a-group"

    def __init__(self) -> None:
        super().__init__("This is a direct conversation, not a group.")


class GroupFull(Conflict):
    """A group has at most 50 members."""

    code = "group-full"

    def __init__(self, limit: int = 50) -> None:
        super().__init__(f"A group has at most {limit} members.")


def _invalid(detail: str, loc: list[str]) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": detail, "type": "value_error"}]


class MessageNotInConversation(InvalidInput):
    """The `message_id` of a read receipt is not a message of this conversation."""

    def __init__(self) -> None:
        detail = "No such message in this conversation."
        super().__init__(detail, errors=_invalid(detail, ["body", "message_id"]))


class InvalidField(InvalidInput):
    """One field of the request breaks a rule its schema cannot state alone."""

    def __init__(self, detail: str, loc: list[str]) -> None:
        super().__init__(detail, errors=_invalid(detail, loc))
