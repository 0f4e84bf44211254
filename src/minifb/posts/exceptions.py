"""Errors of the posts service: posts, comments and reactions."""

from __future__ import annotations

from typing import Any

from minifb.kit.errors import Forbidden, InvalidInput, NotFound


class PostNotFound(NotFound):
    """No such post, or one the viewer may not see: the two are indistinguishable."""

    code = "post-not-found"

    def __init__(self) -> None:
        super().__init__("No such post.")


class CommentNotFound(NotFound):
    code = "comment-not-found"

    def __init__(self) -> None:
        super().__init__("No such comment.")


class NotThePostAuthor(Forbidden):
    code = "not-the-author"

    def __init__(self) -> None:
        super().__init__("Only the author of a post can change or delete it.")


class NotTheCommentAuthor(Forbidden):
    code = "not-the-author"

    def __init__(self, detail: str = "Only the author of a comment can change it.") -> None:
        super().__init__(detail)


def _invalid(detail: str, loc: list[str]) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": detail, "type": "value_error"}]


class InvalidParent(InvalidInput):
    """A reply names a comment that is missing, hidden, or on another post."""

    def __init__(self) -> None:
        detail = "The parent comment does not exist on this post."
        super().__init__(detail, errors=_invalid(detail, ["body", "parent_id"]))
