"""Accounts' credentials and logins: register, login, refresh, logout, password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.telemetry.metrics import Metrics
from minifb.auth import repository as repo
from minifb.auth import throttle
from minifb.auth.exceptions import (
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    WrongPassword,
)
from minifb.auth.passwords import PasswordHasher, check_password_policy
from minifb.auth.policy import LoginPolicy
from minifb.auth.revocations import Revocations
from minifb.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordChangeRequest,
    RegisterRequest,
    TokenPair,
)
from minifb.auth.tokens import AccessTokenCodec, hash_refresh_token, new_refresh_token
from minifb.kit.commit_hooks import after_commit
from minifb.kit.db import utcnow
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
    session: AsyncSession,
    body: RegisterRequest,
    *,
    client: Client,
    cache: Cache,
    passwords: PasswordHasher,
    tokens: AccessTokenCodec,
    policy: LoginPolicy,
    metrics: Metrics,
) -> AuthResult:
    """Create an account and log it in."""
    await throttle.hit_address(
        cache, throttle.SIGNUP_PER_ADDRESS, client.ip, enabled=policy.throttle
    )
    problem = check_password_policy(body.password, username=body.username, email=body.email)
    if problem:
        raise _policy_error("password", problem)
    user = await users.create_user(
        session, username=body.username, email=body.email, display_name=body.display_name
    )
    session.add(
        Credential(user_id=user.id, password_hash=await passwords.hash_async(body.password))
    )
    pair = await _open_session(session, user.id, client, tokens=tokens, policy=policy)
    metrics.registrations.inc()
    return AuthResult(user=users.me(user), **pair.model_dump())


async def login(
    session: AsyncSession,
    body: LoginRequest,
    *,
    client: Client,
    cache: Cache,
    passwords: PasswordHasher,
    tokens: AccessTokenCodec,
    policy: LoginPolicy,
    metrics: Metrics,
) -> AuthResult:
    """Exchange a username or email and a password for tokens."""
    enabled = policy.throttle
    await throttle.hit_address(cache, throttle.LOGIN_PER_ADDRESS, client.ip, enabled=enabled)
    user = await users.find_by_login(session, body.login)
    # Counted under the login name as given: were an account's username and
    # e-mail one count, a 429 for one after tries at the other would tell
    # anyone whose account an e-mail address is (docs/decisions/0105).
    check = await throttle.check_password(
        cache,
        account=f"login:{body.login.strip().lower()}",
        ip=client.ip,
        logged_in_before=throttle.logged_in_before(session, user.id if user else None),
        enabled=enabled,
    )
    credential = await repo.get_credential(session, user.id) if user else None
    if user is None or credential is None:
        # Spend a real verification so an unknown account answers in the same time.
        await passwords.verify_dummy_async(body.password)
        metrics.login_failures.labels("unknown_account").inc()
        raise InvalidCredentials()
    if not await passwords.verify_async(credential.password_hash, body.password):
        metrics.login_failures.labels("wrong_password").inc()
        raise InvalidCredentials()
    await check.succeeded()
    if passwords.needs_rehash(credential.password_hash):
        credential.password_hash = await passwords.hash_async(body.password)
    pair = await _open_session(session, user.id, client, tokens=tokens, policy=policy)
    metrics.logins.inc()
    return AuthResult(user=users.me(user), **pair.model_dump())


async def refresh(
    session: AsyncSession,
    refresh_token: str,
    *,
    tokens: AccessTokenCodec,
    revocations: Revocations,
) -> TokenPair:
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
        await _revoke(session, login.user_id, revocations=revocations, only=login.id)
        raise RefreshTokenReused()
    return await _issue(session, login.user_id, login.id, tokens=tokens)


async def logout(session: AsyncSession, refresh_token: str, *, revocations: Revocations) -> None:
    """End the login the refresh token belongs to (idempotent)."""
    found = await repo.find_refresh_token(session, hash_refresh_token(refresh_token))
    if found is not None:
        _, login = found
        await _revoke(session, login.user_id, revocations=revocations, only=login.id)


async def change_password(
    session: AsyncSession,
    principal: Principal,
    body: PasswordChangeRequest,
    *,
    client: Client,
    cache: Cache,
    passwords: PasswordHasher,
    tokens: AccessTokenCodec,
    revocations: Revocations,
    policy: LoginPolicy,
) -> TokenPair:
    """Change the password, end every login, and open a fresh one for the caller."""
    # Checking the current password is a password check like a login's.
    check = await throttle.check_password(
        cache,
        account=f"user:{principal.user_id}",
        ip=client.ip,
        logged_in_before=throttle.logged_in_before(session, principal.user_id),
        enabled=policy.throttle,
    )
    credential = await repo.get_credential(session, principal.user_id)
    if credential is None or not await passwords.verify_async(
        credential.password_hash, body.current_password
    ):
        raise WrongPassword()
    await check.succeeded()
    user = await users.get_visible_user(session, principal.user_id, principal.user_id)
    problem = check_password_policy(body.new_password, username=user.username, email=user.email)
    if problem:
        raise _policy_error("new_password", problem)
    credential.password_hash = await passwords.hash_async(body.new_password)
    credential.password_changed_at = utcnow()
    await _revoke(session, principal.user_id, revocations=revocations)
    return await _open_session(session, principal.user_id, client, tokens=tokens, policy=policy)


async def _open_session(
    session: AsyncSession,
    user_id: int,
    client: Client,
    *,
    tokens: AccessTokenCodec,
    policy: LoginPolicy,
) -> TokenPair:
    now = utcnow()
    login = AuthSession(
        id=new_id(),
        user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.refresh_ttl),
        user_agent=client.user_agent[:255],
        ip=client.ip[:64],
    )
    session.add(login)
    return await _issue(session, user_id, login.id, tokens=tokens)


async def _issue(
    session: AsyncSession, user_id: int, session_id: int, *, tokens: AccessTokenCodec
) -> TokenPair:
    raw = new_refresh_token()
    session.add(
        RefreshToken(id=new_id(), session_id=session_id, token_hash=hash_refresh_token(raw))
    )
    access, expires_in = tokens.issue(user_id=user_id, session_id=session_id)
    return TokenPair(access_token=access, refresh_token=raw, expires_in=expires_in)


async def _revoke(
    session: AsyncSession, user_id: int, *, revocations: Revocations, only: int | None = None
) -> None:
    ended = await repo.revoke_sessions(session, user_id=user_id, now=utcnow(), only=only)
    # The committed revoked_at is the record every process polls; access tokens
    # are self-contained, so this process stops them at once, once committed.
    after_commit(session, lambda: _stop_here(revocations, ended))


async def _stop_here(revocations: Revocations, ended: list[int]) -> None:
    revocations.add(ended)
