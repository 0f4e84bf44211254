"""Every query of the auth service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected
from minifb.models import AuthSession, Credential, RefreshToken


async def get_credential(session: AsyncSession, user_id: int) -> Credential | None:
    return await session.get(Credential, user_id)


async def login_addresses(session: AsyncSession, user_id: int, *, limit: int = 500) -> list[str]:
    """The addresses an account has logged in from, most recent first."""
    query = (
        select(AuthSession.ip)
        .where(AuthSession.user_id == user_id)
        .group_by(AuthSession.ip)
        .order_by(func.max(AuthSession.created_at).desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def find_refresh_token(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, AuthSession] | None:
    row = (
        await session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def mark_rotated(session: AsyncSession, token_id: int, now: datetime) -> bool:
    """Claim a token for rotation; False when another request already did (reuse)."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    return affected(result) > 0


async def revoke_sessions(
    session: AsyncSession, *, user_id: int, now: datetime, only: int | None = None
) -> list[int]:
    """End the user's live sessions (or just `only`); returns the ids ended."""
    query = select(AuthSession.id).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if only is not None:
        query = query.where(AuthSession.id == only)
    ids = list((await session.scalars(query)).all())
    if ids:
        await session.execute(
            update(AuthSession).where(AuthSession.id.in_(ids)).values(revoked_at=now)
        )
    return ids


async def sessions_ended_since(
    session: AsyncSession, since: datetime
) -> list[tuple[int, datetime]]:
    """(id, revoked_at) of every session ended at or after `since` (an index range)."""
    rows = await session.execute(
        select(AuthSession.id, AuthSession.revoked_at).where(AuthSession.revoked_at >= since)
    )
    return [(sid, at) for sid, at in rows if at is not None]
