"""The search port (`base.py`) and the OpenSearch index; the database's own full-text
index lives with the search service, which owns its tables (docs/decisions/0124)."""

from minifb.adapters.search.base import (
    After,
    Hit,
    PersonDoc,
    PostDoc,
    SearchIndex,
    Viewer,
    words,
)

__all__ = ["After", "Hit", "PersonDoc", "PostDoc", "SearchIndex", "Viewer", "words"]
