"""HTTP routes of the auth service: accounts, logins, tokens and the token keys."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from minifb.auth import service
from minifb.auth.deps import (
    ClientDep,
    KeySetDep,
    LoginPolicyDep,
    PasswordsDep,
    RevocationsDep,
    TokensDep,
)
from minifb.auth.exceptions import (
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    WrongPassword,
)
from minifb.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)
from minifb.kit.deps import CacheDep, MetricsDep, SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.security import CurrentUser
from minifb.users.exceptions import EmailTaken, UsernameTaken

router = APIRouter(prefix="/auth", tags=["auth"], responses=problems(503))
well_known = APIRouter(tags=["auth"])

# The credential endpoints' own throttles (docs/decisions/0104), besides the gateway's limit.
_THROTTLED = (
    429,
    "Too many attempts from your address or at this account; try again after "
    "`Retry-After` seconds.",
)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResult,
    summary="Sign up",
    response_description="The new account, logged in.",
    responses=problems(UsernameTaken, EmailTaken, _THROTTLED),
)
async def register(
    body: RegisterRequest,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    policy: LoginPolicyDep,
    metrics: MetricsDep,
) -> AuthResult:
    """Create an account and log it in: the answer carries its first pair of tokens.

    The username is kept in lower case. A password that is too short, too long,
    too common, or the username or email itself is refused (422, naming why).
    """
    return await service.register(
        session,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        policy=policy,
        metrics=metrics,
    )


@router.post(
    "/login",
    response_model=AuthResult,
    summary="Log in",
    response_description="The tokens of the new login, and the account.",
    responses=problems(InvalidCredentials, _THROTTLED),
)
async def login(
    body: LoginRequest,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    policy: LoginPolicyDep,
    metrics: MetricsDep,
) -> AuthResult:
    """Exchange a username or email and the password for a pair of tokens.

    An unknown account and a wrong password get the same answer. Repeated
    failures are throttled per address and per account (429).
    """
    return await service.login(
        session,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        policy=policy,
        metrics=metrics,
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    name="refresh_tokens",
    summary="Get a new pair of tokens",
    response_description="The next pair; the refresh token sent is used up.",
    responses=problems(InvalidRefreshToken, RefreshTokenReused),
)
async def refresh(
    body: RefreshRequest, session: SessionDep, tokens: TokensDep, revocations: RevocationsDep
) -> TokenPair:
    """Trade the refresh token of the last pair for a new pair.

    Each refresh token works once. One presented a second time means someone
    holds a copy: the whole login ends, for both holders (401).
    """
    return await service.refresh(
        session, body.refresh_token, tokens=tokens, revocations=revocations
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out",
    response_description="The login has ended (or there was none with this token).",
)
async def logout(
    body: RefreshRequest, session: SessionDep, revocations: RevocationsDep
) -> Response:
    """End the login the refresh token belongs to: its tokens stop working.

    Idempotent: an unknown or already ended token answers 204 as well.
    """
    await service.logout(session, body.refresh_token, revocations=revocations)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    response_model=TokenPair,
    summary="Change your password",
    response_description="The tokens of a fresh login; every other login has ended.",
    responses=problems(Unauthorized, WrongPassword, _THROTTLED),
)
async def change_password(
    body: PasswordChangeRequest,
    principal: CurrentUser,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    revocations: RevocationsDep,
    policy: LoginPolicyDep,
) -> TokenPair:
    """Replace your password, given the current one, and end every login of your
    account, this one included; the answer opens a fresh one.

    The new password follows the same rules as at sign-up (422 naming why).
    """
    return await service.change_password(
        session,
        principal,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        revocations=revocations,
        policy=policy,
    )


@well_known.get(
    "/.well-known/jwks.json",
    name="get_jwks",
    summary="The keys that sign access tokens",
    response_description="A JSON Web Key Set.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "keys": [
                            {
                                "kty": "EC",
                                "crv": "P-256",
                                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                                "kid": "k1",
                                "use": "sig",
                                "alg": "ES256",
                            }
                        ]
                    }
                }
            }
        }
    },
)
async def jwks(keyset: KeySetDep, response: Response) -> dict[str, object]:
    """The public keys that verify access tokens (several during a key rotation), for a
    service that checks tokens itself; cacheable for five minutes."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return keyset.jwks()
