from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class AuthSession(Base):
    """One login: the family of every refresh token rotated from it."""

    __tablename__ = "auth_sessions"
    # Every process reads the recently ended logins at start and once a second
    # (auth.revocations); only ended ones are indexed, most logins just expire.
    __table_args__ = (
        Index(
            "ix_auth_sessions_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
            sqlite_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Absolute: rotation never extends a login past this moment.
    expires_at: Mapped[datetime]
    # The record of ended logins: set once, by logout, password change or reuse.
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    session_id: Mapped[int] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"))
    # SHA-256 of the opaque token: a database leak yields no usable token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once the token has been exchanged; presenting it again is reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
