from __future__ import annotations

from minifb.kit.errors import Forbidden, NotFound


class NotificationNotFound(NotFound):
    """No such notification of yours (someone else's reads the same)."""

    code = "notification-not-found"

    def __init__(self) -> None:
        super().__init__("No such notification.")


class PresenceHidden(Forbidden):
    """The viewer's own active status is off: they see nobody's presence."""

    code = "presence-hidden"

    def __init__(self) -> None:
        super().__init__(
            "Your active status is off: turn it on (settings.active_status) to see your friends'."
        )
