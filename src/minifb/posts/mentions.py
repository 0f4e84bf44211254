"""`@username` mentions in the text of a post or comment.

Found when the text is written and carried in its event (`mentions`), so
consumers (notifications) need not read the text back. A mention is `@`
and a valid username, not inside a word or an address (`ada@example.com`).
"""

from __future__ import annotations

import re

# The most mentions of one text that are passed on: more is spam, not conversation.
MAX_MENTIONS = 10
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_@])")


def mentioned(text: str) -> list[str]:
    """The usernames mentioned in `text`, lower-cased, each once, in order, at most
    `MAX_MENTIONS`."""
    names: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        names.setdefault(match[1].lower(), None)
        if len(names) == MAX_MENTIONS:
            break
    return list(names)
