"""Errors of the posts service: posts, comments, reactions and idempotency keys."""

from __future__ import annotations

from typing import Any

from minifb.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


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


class InvalidIdempotencyKey(InvalidInput):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=_invalid(detail, ["header", "Idempotency-Key"]))


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency-key-reused"

    def __init__(self) -> None:
        detail = "This Idempotency-Key was already used with a different request body."
        super().__init__(detail, errors=_invalid(detail, ["header", "Idempotency-Key"]))


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency-key-in-flight"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")
