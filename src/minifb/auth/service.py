"""Accounts' credentials and logins: register, login, refresh, logout, password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.auth import repository as repo
from minifb.auth import throttle
from minifb.auth.exceptions import (
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    WrongPassword,
)
from minifb.auth.passwords import check_password_policy
from minifb.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordChangeRequest,
    RegisterRequest,
    TokenPair,
)
from minifb.auth.tokens import hash_refresh_token, new_refresh_token
from minifb.bootstrap import Container
from minifb.kit.db import after_commit, utcnow
from minifb.kit.errors import InvalidInput
from minifb.kit.ids import new_id
from minifb.kit.security import Principal
from minifb.models import AuthSession, Credential, RefreshToken
from minifb.users import service as users


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from, recorded on the login it opens."""

    ip: str
    user_agent: str


def _policy_error(field: str, problem: str) -> InvalidInput:
    return InvalidInput(
        problem, errors=[{"loc": ["body", field], "msg": problem, "type": "password_policy"}]
    )


async def register(
    session: AsyncSession, c: Container, body: RegisterRequest, *, client: Client
) -> AuthResult:
    """Create an account and log it in."""
    await throttle.hit_address(
        c.cache, throttle.SIGNUP_PER_ADDRESS, client.ip, enabled=c.settings.auth_throttle
    )
    problem = check_password_policy(body.password, username=body.username, email=body.email)
    if problem:
        raise _policy_error("password", problem)
    user = await users.create_user(
        session, username=body.username, email=body.email, display_name=body.display_name
    )
    session.add(
        Credential(user_id=user.id, password_hash=await c.passwords.hash_async(body.password))
    )
    pair = await _open_session(session, c, user.id, client)
    c.metrics.registrations.inc()
    return AuthResult(user=users.me(user), **pair.model_dump())


async def login(
    session: AsyncSession, c: Container, body: LoginRequest, *, client: Client
) -> AuthResult:
    """Exchange a username or email and a password for tokens."""
    enabled = c.settings.auth_throttle
    await throttle.hit_address(c.cache, throttle.LOGIN_PER_ADDRESS, client.ip, enabled=enabled)
    user = await users.find_by_login(session, body.login)
    # Counted under the login name as given: were an account's username and
    # e-mail one count, a 429 for one after tries at the other would tell
    # anyone whose account an e-mail address is (docs/decisions/0105).
    check = await throttle.check_password(
        c.cache,
        account=f"login:{body.login.strip().lower()}",
        ip=client.ip,
        logged_in_before=throttle.logged_in_before(session, user.id if user else None),
        enabled=enabled,
    )
    credential = await repo.get_credential(session, user.id) if user else None
    if user is None or credential is None:
        # Spend a real verification so an unknown account answers in the same time.
        await c.passwords.verify_dummy_async(body.password)
        c.metrics.login_failures.labels("unknown_account").inc()
        raise InvalidCredentials()
    if not await c.passwords.verify_async(credential.password_hash, body.password):
        c.metrics.login_failures.labels("wrong_password").inc()
        raise InvalidCredentials()
    await check.succeeded()
    if c.passwords.needs_rehash(credential.password_hash):
        credential.password_hash = await c.passwords.hash_async(body.password)
    pair = await _open_session(session, c, user.id, client)
    c.metrics.logins.inc()
    return AuthResult(user=users.me(user), **pair.model_dump())


async def refresh(session: AsyncSession, c: Container, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; a token presented twice ends its whole login."""
    found = await repo.find_refresh_token(session, hash_refresh_token(refresh_token))
    if found is None:
        raise InvalidRefreshToken()
    token, login = found
    now = utcnow()
    if login.revoked_at is not None or login.expires_at <= now:
        raise InvalidRefreshToken("The session has ended; log in again.")
    if not await repo.mark_rotated(session, token.id, now):
        # Someone holds a copy of a used token: end the login for both holders.
        await _revoke(session, c, login.user_id, only=login.id)
        raise RefreshTokenReused()
    return await _issue(session, c, login.user_id, login.id)


async def logout(session: AsyncSession, c: Container, refresh_token: str) -> None:
    """End the login the refresh token belongs to (idempotent)."""
    found = await repo.find_refresh_token(session, hash_refresh_token(refresh_token))
    if found is not None:
        _, login = found
        await _revoke(session, c, login.user_id, only=login.id)


async def change_password(
    session: AsyncSession,
    c: Container,
    principal: Principal,
    body: PasswordChangeRequest,
    *,
    client: Client,
) -> TokenPair:
    """Change the password, end every login, and open a fresh one for the caller."""
    # Checking the current password is a password check like a login's.
    check = await throttle.check_password(
        c.cache,
        account=f"user:{principal.user_id}",
        ip=client.ip,
        logged_in_before=throttle.logged_in_before(session, principal.user_id),
        enabled=c.settings.auth_throttle,
    )
    credential = await repo.get_credential(session, principal.user_id)
    if credential is None or not await c.passwords.verify_async(
        credential.password_hash, body.current_password
    ):
        raise WrongPassword()
    await check.succeeded()
    user = await users.get_visible_user(session, principal.user_id, principal.user_id)
    problem = check_password_policy(body.new_password, username=user.username, email=user.email)
    if problem:
        raise _policy_error("new_password", problem)
    credential.password_hash = await c.passwords.hash_async(body.new_password)
    credential.password_changed_at = utcnow()
    await _revoke(session, c, principal.user_id)
    return await _open_session(session, c, principal.user_id, client)


async def _open_session(
    session: AsyncSession, c: Container, user_id: int, client: Client
) -> TokenPair:
    now = utcnow()
    login = AuthSession(
        id=new_id(),
        user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(seconds=c.settings.refresh_token_ttl),
        user_agent=client.user_agent[:255],
        ip=client.ip[:64],
    )
    session.add(login)
    return await _issue(session, c, user_id, login.id)


async def _issue(session: AsyncSession, c: Container, user_id: int, session_id: int) -> TokenPair:
    raw = new_refresh_token()
    session.add(
        RefreshToken(id=new_id(), session_id=session_id, token_hash=hash_refresh_token(raw))
    )
    access, expires_in = c.tokens.issue(user_id=user_id, session_id=session_id)
    return TokenPair(access_token=access, refresh_token=raw, expires_in=expires_in)


async def _revoke(
    session: AsyncSession, c: Container, user_id: int, *, only: int | None = None
) -> None:
    ended = await repo.revoke_sessions(session, user_id=user_id, now=utcnow(), only=only)
    # The committed revoked_at is the record every process polls; access tokens
    # are self-contained, so this process stops them at once, once committed.
    after_commit(session, lambda: _stop_here(c, ended))


async def _stop_here(c: Container, ended: list[int]) -> None:
    c.revocations.add(ended)
