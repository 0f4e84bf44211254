"""The news feed's policy values, built once from the settings by the composition root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeedPolicy:
    size: int
    """How many post ids each person's feed keeps (older ones fall off; a rebuild reads
    as many)."""
    fanout_limit: int
    """Authors with more followers are not fanned out: their posts are merged in at read
    time."""
    merge_authors: int
    """At most this many such followed authors are merged into one feed read."""
