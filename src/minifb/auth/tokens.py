"""Access tokens (ES256 JWTs), their signing keys, and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from minifb.adapters.secrets import SecretStore

ALGORITHM = "ES256"
JWT_TYP = "at+jwt"  # RFC 9068: marks an access token, so no other JWT passes for one
SIGNING_KEY_NAME = "jwt_signing_key"
VERIFY_KEYS_NAME = "jwt_verify_keys"
DEV_KEY_FILE = "jwt-signing-key.pem"

# Only what issue() writes. Anything else is refused, above all jku, jwk,
# x5u and x5c: they let a token name its own key.
_ALLOWED_HEADERS = frozenset({"alg", "typ", "kid"})
_ACCEPTED_TYPES = frozenset({JWT_TYP, "application/" + JWT_TYP})
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti"]
# Ours are ~400 characters; refusing a huge string costs less than parsing it.
_MAX_TOKEN_LENGTH = 4096
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class InvalidToken(Exception):
    """The token is not a valid access token; the message is for logs, not for clients."""


class MissingSigningKeyError(RuntimeError):
    """No key to sign access tokens with is configured."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk_members(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint of a P-256 public key (base64url SHA-256)."""
    # RFC 7638 hashes the required members only, sorted, without whitespace.
    canonical = json.dumps(_public_jwk_members(key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _require_p256(key: object) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not (
        isinstance(key.curve, ec.SECP256R1)
    ):
        raise ValueError("JWT keys must be EC P-256 keys (ES256)")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key that signs access tokens, with its key id."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def from_private_key(cls, private_key: ec.EllipticCurvePrivateKey) -> SigningKey:
        """Wrap a P-256 private key, deriving its kid."""
        _require_p256(private_key)
        return cls(key_id(private_key.public_key()), private_key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random P-256 key."""
        return cls.from_private_key(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 or SEC1 P-256 private key."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("JWT keys must be EC P-256 keys (ES256)")
        return cls.from_private_key(key)

    def to_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, which verifies what this key signs."""
        return self.private_key.public_key()


class KeySet:
    """One key that signs and every key that verifies, by kid.

    Rotation: deploy the new signing key with the old public key listed as
    verify-only; remove the old one once its last tokens have expired.
    """

    def __init__(
        self, signing: SigningKey, verify_only: Iterable[ec.EllipticCurvePublicKey] = ()
    ) -> None:
        self.signing = signing
        keys = {signing.kid: signing.public_key}
        for public_key in verify_only:
            _require_p256(public_key)
            keys.setdefault(key_id(public_key), public_key)
        self._keys: Mapping[str, ec.EllipticCurvePublicKey] = keys

    @property
    def kids(self) -> list[str]:
        """The kid of every verifying key, the signing key first."""
        return list(self._keys)

    def verification_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The public key for `kid`, or None when it is not one of ours."""
        return self._keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set, for GET /.well-known/jwks.json."""
        return {
            "keys": [
                {**_public_jwk_members(key), "kid": kid, "use": "sig", "alg": ALGORITHM}
                for kid, key in self._keys.items()
            ]
        }


def _parse_public_keys(text: str) -> list[ec.EllipticCurvePublicKey]:
    keys = []
    for block in _PEM_BLOCK.finditer(text.encode("ascii")):
        key = serialization.load_pem_public_key(block.group(0))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError(f"{VERIFY_KEYS_NAME}: JWT keys must be EC P-256 keys (ES256)")
        keys.append(key)
    if not keys:
        raise ValueError(f"{VERIFY_KEYS_NAME}: no PEM public key found")
    return keys


def _unescape(value: str | None) -> str | None:
    # PEMs often reach an environment variable with "\n" written out.
    if value is None or not value.strip():
        return None
    return value.replace("\\n", "\n") if "\n" not in value else value


def _load_or_create_dev_key(directory: Path) -> SigningKey:
    path = directory / DEV_KEY_FILE
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = SigningKey.generate()
    # Written aside then hard-linked: the link is atomic and fails if another
    # worker won the race, whose key every worker must then share.
    scratch = directory / f".{DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.to_pem())
    try:
        os.link(scratch, path)
    except FileExistsError:
        return SigningKey.from_pem(path.read_bytes())
    finally:
        scratch.unlink()
    return key


async def load_keyset(secrets: SecretStore, *, dev_key_dir: Path | None) -> KeySet:
    """The keys from secrets "jwt_signing_key" (PEM) and "jwt_verify_keys" (PEMs).

    Without a configured signing key, `dev_key_dir` (development only) holds
    one generated on first start and kept, so restarts keep sessions valid.
    """
    signing_pem = _unescape(await secrets.get(SIGNING_KEY_NAME))
    verify_pems = _unescape(await secrets.get(VERIFY_KEYS_NAME))
    verify_only = _parse_public_keys(verify_pems) if verify_pems else []
    if signing_pem is not None:
        signing = SigningKey.from_pem(signing_pem)
    elif dev_key_dir is not None:
        signing = await asyncio.to_thread(_load_or_create_dev_key, dev_key_dir)
    else:
        raise MissingSigningKeyError(
            f"no JWT signing key: set secret {SIGNING_KEY_NAME!r} to an EC P-256 private "
            f"key PEM (with the env store: MINIFB_{SIGNING_KEY_NAME.upper()})"
        )
    return KeySet(signing, verify_only)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: int
    session_id: int
    jti: str
    expires_at: int


def _id_claim(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    # isdigit() alone admits non-ASCII digits; int() alone admits "+1" and " 1".
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        raise InvalidToken(f"claim {name!r} is not a decimal id")
    return int(value)


class AccessTokenCodec:
    """Issues and verifies access tokens; verification keeps a small LRU of good tokens."""

    cache_size = 4096

    def __init__(
        self,
        keyset: KeySet,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int = 900,
        leeway_seconds: int = 0,
    ) -> None:
        self._keyset = keyset
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._leeway = leeway_seconds
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_lock = threading.Lock()

    def issue(
        self, *, user_id: int, session_id: int, now: datetime | None = None
    ) -> tuple[str, int]:
        """A signed access token for this login, and its lifetime in seconds."""
        issued_at = int((now or datetime.now(UTC)).timestamp())
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl,
            "jti": secrets.token_urlsafe(16),
        }
        signing = self._keyset.signing
        token = jwt.encode(
            payload,
            signing.private_key,
            algorithm=ALGORITHM,
            headers={"kid": signing.kid, "typ": JWT_TYP},
        )
        return token, self._ttl

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid access token; raises InvalidToken otherwise."""
        with self._cache_lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is not None:
            # Same rule as PyJWT's exp check, which a cached token skips.
            if claims.expires_at <= time.time() - self._leeway:
                with self._cache_lock:
                    self._cache.pop(token, None)
                raise InvalidToken("expired")
            return claims
        claims = self._verify_uncached(token)
        with self._cache_lock:
            self._cache[token] = claims
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return claims

    def _verify_uncached(self, token: str) -> AccessClaims:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidToken("too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWT: {exc}") from None
        # Checked before any key is chosen, so the token never picks the
        # algorithm (alg "none", HS256 keyed with our public key) or the key.
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm {header.get('alg')!r} refused")
        extra = header.keys() - _ALLOWED_HEADERS
        if extra:
            raise InvalidToken(f"header parameters refused: {sorted(extra)}")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidToken(f"header typ {typ!r} is not {JWT_TYP!r}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("no kid")
        key = self._keyset.verification_key(kid)
        if key is None:
            raise InvalidToken(f"unknown kid {kid!r}")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        exp, jti = payload["exp"], payload["jti"]
        if not isinstance(exp, int) or not isinstance(jti, str):
            raise InvalidToken("malformed exp or jti")
        return AccessClaims(
            user_id=_id_claim(payload, "sub"),
            session_id=_id_claim(payload, "sid"),
            jti=jti,
            expires_at=exp,
        )


def new_refresh_token() -> str:
    """An opaque refresh token (256 random bits); only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored and looked up."""
    # A fast hash is enough: the token is random, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
