from __future__ import annotations

from minifb.kit.errors import NotFound


class NotificationNotFound(NotFound):
    """No such notification of yours (someone else's reads the same)."""

    code = "notification-not-found"

    def __init__(self) -> None:
        super().__init__("No such notification.")
