"""The news feed's limits, handed to `posts.feed` as one small value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedPolicy:
    size: int
    fanout_limit: int
    merge_authors: int
