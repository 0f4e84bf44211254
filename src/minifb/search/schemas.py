"""What `GET /search` answers (built as JSON bytes by the service; these describe it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minifb.kit.schemas import Page
from minifb.posts.schemas import POST_EXAMPLE, PostRead
from minifb.users.schemas import USER_EXAMPLE
from minifb.users.service import UserRead

RESULTS_EXAMPLE: dict[str, Any] = {
    "users": {"items": [USER_EXAMPLE], "next_cursor": None},
    "posts": {"items": [POST_EXAMPLE], "next_cursor": "czE6MHgxLjhwLTI6NzQ0MDUyODQ0NjA2MzMyOTI4"},
}


class SearchResults(BaseModel):
    """One section per type asked for; a section not asked for is null."""

    model_config = ConfigDict(json_schema_extra={"examples": [RESULTS_EXAMPLE]})

    users: Page[UserRead] | None = Field(
        description="People by username and display name, prefix matches, best first."
    )
    posts: Page[PostRead] | None = Field(
        description="Posts you may read, most relevant first, then newest."
    )
