"""Small helpers of the posts-service suites."""

from __future__ import annotations

REACTIONS = ("like", "love", "haha", "wow", "sad", "angry")


def counts(**given: int) -> dict[str, int]:
    """Reaction counts: every type 0 unless given."""
    return {t: given.get(t, 0) for t in REACTIONS}
