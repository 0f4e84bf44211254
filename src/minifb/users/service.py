"""What other services may use of the users service: its one public surface.

Services meet only through each other's `service.py` (an import-linter
contract holds them to it), so everything another service needs of people is
named here, and nothing else of this package is theirs to import. The rules
themselves live in the package's use-case modules (`profiles.py`,
`friends.py`, `friend_requests.py`, `follows.py`, `blocks.py`); the social
graph, as pieces of queries, in `graph.py` (docs/decisions/0113).
"""

from __future__ import annotations

from minifb.users.exceptions import UserNotFound
from minifb.users.graph import (
    ARE_FRIENDS_SQL,
    AUDIENCES_SQL,
    FRIEND,
    HIDDEN,
    HIDDEN_SQL,
    TIES_SQL,
    are_friends,
    blocked_either_way,
    followed_among,
    followee_ids,
    friend_ids,
    hidden_from,
    not_hidden_from,
    visible_followers,
)
from minifb.users.presence import (
    Audience,
    friends_presence,
    presence_audience,
    record_last_active,
)
from minifb.users.profiles import (
    Recipient,
    create_user,
    find_by_login,
    get_visible_user,
    me,
    recipients,
)
from minifb.users.schemas import DisplayName, UserMe, Username, UserRead

__all__ = [
    "ARE_FRIENDS_SQL",
    "AUDIENCES_SQL",
    "FRIEND",
    "HIDDEN",
    "HIDDEN_SQL",
    "TIES_SQL",
    "Audience",
    "DisplayName",
    "Recipient",
    "UserMe",
    "UserNotFound",
    "UserRead",
    "Username",
    "are_friends",
    "blocked_either_way",
    "create_user",
    "find_by_login",
    "followed_among",
    "followee_ids",
    "friend_ids",
    "friends_presence",
    "get_visible_user",
    "hidden_from",
    "me",
    "not_hidden_from",
    "presence_audience",
    "recipients",
    "record_last_active",
    "visible_followers",
]
