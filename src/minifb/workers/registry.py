"""The event consumers of every service, by name (`minifb worker NAME` runs one).

Each entry subscribes its handlers to the container's bus. In the embedded
tier every consumer runs inside the server process; elsewhere a worker
process (or a Lambda) runs the ones it is given.
"""

from __future__ import annotations

from collections.abc import Callable

from minifb.bootstrap import Container
from minifb.posts import handlers as posts_handlers

Registration = Callable[[Container], None]

CONSUMERS: dict[str, Registration] = {
    # The news feed: fan-out of new posts, and relationship changes (DESIGN §5).
    "feed": posts_handlers.register,
}


def subscribe_all(container: Container, names: list[str] | None = None) -> None:
    """Subscribe the named consumers (all when None) to the container's bus."""
    for name in names if names is not None else list(CONSUMERS):
        CONSUMERS[name](container)
