import asyncio
import base64
import hashlib
import hmac
import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from minifb.adapters.secrets import EnvSecretStore
from minifb.auth import tokens
from minifb.auth.tokens import (
    AccessClaims,
    AccessTokenCodec,
    InvalidToken,
    KeySet,
    MissingSigningKeyError,
    SigningKey,
    hash_refresh_token,
    load_keyset,
    new_refresh_token,
)

ISSUER, AUDIENCE = "minifb", "minifb-api"
CLAIMS = ["iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti"]


@pytest.fixture(scope="module")
def ours() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def attacker() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def codec(ours: SigningKey) -> AccessTokenCodec:
    return AccessTokenCodec(KeySet(ours), issuer=ISSUER, audience=AUDIENCE)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "42",
        "sid": "7",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j" * 22,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def forge(key: SigningKey, payload: dict[str, Any], **headers: Any) -> str:
    """A token signed with `key`: header kid/typ as issue() writes them, unless overridden."""
    header = {"kid": key.kid, "typ": "at+jwt", **headers}
    header = {name: value for name, value in header.items() if value is not None}
    return jwt.encode(payload, key.private_key, algorithm="ES256", headers=header)


def refused(codec: AccessTokenCodec, token: str, reason: str | None = None) -> str:
    with pytest.raises(InvalidToken, match=reason) as caught:
        codec.verify(token)
    return str(caught.value)


def public_pem(key: SigningKey) -> bytes:
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# Issue and verify


def test_round_trip(codec: AccessTokenCodec, ours: SigningKey) -> None:
    token, expires_in = codec.issue(user_id=42, session_id=7)
    assert expires_in == 900
    result = codec.verify(token)
    assert (result.user_id, result.session_id) == (42, 7)
    assert result.expires_at == pytest.approx(time.time() + 900, abs=5)

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": ours.kid}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == set(CLAIMS)
    assert (payload["iss"], payload["aud"], payload["sub"], payload["sid"]) == (
        ISSUER,
        AUDIENCE,
        "42",
        "7",
    )
    assert payload["iat"] == payload["nbf"] == payload["exp"] - 900
    assert payload["jti"] == result.jti
    assert len(base64.urlsafe_b64decode(result.jti + "==")) >= 16


def test_issue_honours_now_and_ttl(ours: SigningKey) -> None:
    codec = AccessTokenCodec(KeySet(ours), issuer=ISSUER, audience=AUDIENCE, ttl_seconds=60)
    now = datetime.now(UTC) - timedelta(seconds=30)
    token, expires_in = codec.issue(user_id=1, session_id=2, now=now)
    assert expires_in == 60
    assert codec.verify(token).expires_at == int(now.timestamp()) + 60


def test_every_token_gets_its_own_jti(codec: AccessTokenCodec) -> None:
    first = codec.verify(codec.issue(user_id=1, session_id=1)[0])
    second = codec.verify(codec.issue(user_id=1, session_id=1)[0])
    assert first.jti != second.jti


def test_a_token_we_forge_correctly_is_accepted(codec: AccessTokenCodec, ours: SigningKey) -> None:
    # The baseline that makes each refusal below mean something.
    assert codec.verify(forge(ours, claims())) == AccessClaims(42, 7, "j" * 22, claims()["exp"])


# Refusals: algorithm and key


def test_alg_none_is_refused(codec: AccessTokenCodec, ours: SigningKey) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": ours.kid}
    refused(codec, f"{b64_json(header)}.{b64_json(claims())}.", "algorithm")


def test_hs256_keyed_with_our_public_key_is_refused(
    codec: AccessTokenCodec, ours: SigningKey
) -> None:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": ours.kid}
    signing_input = f"{b64_json(header)}.{b64_json(claims())}"
    mac = hmac.new(public_pem(ours), signing_input.encode(), hashlib.sha256).digest()
    refused(codec, f"{signing_input}.{b64(mac)}", "algorithm")


def test_another_key_claiming_our_kid_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, attacker: SigningKey
) -> None:
    refused(codec, forge(attacker, claims(), kid=ours.kid), "Signature")


def test_an_unknown_kid_is_refused(codec: AccessTokenCodec, attacker: SigningKey) -> None:
    refused(codec, forge(attacker, claims()), "unknown kid")


def test_a_missing_kid_is_refused(codec: AccessTokenCodec, ours: SigningKey) -> None:
    refused(codec, forge(ours, claims(), kid=None), "no kid")


def test_a_tampered_payload_is_refused(codec: AccessTokenCodec) -> None:
    header, _, signature = codec.issue(user_id=42, session_id=7)[0].split(".")
    refused(codec, f"{header}.{b64_json(claims(sub='1'))}.{signature}", "Signature")


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_a_key_url_in_the_header_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, attacker: SigningKey, name: str
) -> None:
    url = "https://attacker.example/jwks.json"
    refused(codec, forge(attacker, claims(), **{name: url}), name)
    # Refused outright, even on a token our own key signed.
    refused(codec, forge(ours, claims(), **{name: url}), name)


def test_an_embedded_jwk_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, attacker: SigningKey
) -> None:
    jwk = KeySet(attacker).jwks()["keys"][0]
    refused(codec, forge(attacker, claims(), jwk=jwk), "jwk")
    refused(codec, forge(ours, claims(), jwk=jwk), "jwk")


def test_an_embedded_certificate_chain_is_refused(
    codec: AccessTokenCodec, ours: SigningKey
) -> None:
    refused(codec, forge(ours, claims(), x5c=["MIIB..."]), "x5c")


# Refusals: header type and claims


@pytest.mark.parametrize("typ", ["JWT", "refresh", None])
def test_a_token_of_another_type_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, typ: str | None
) -> None:
    refused(codec, forge(ours, claims(), typ=typ), "typ")


def test_an_expired_token_is_refused(codec: AccessTokenCodec) -> None:
    past = datetime.now(UTC) - timedelta(seconds=901)
    refused(codec, codec.issue(user_id=1, session_id=1, now=past)[0], "expired")


def test_leeway_tolerates_a_little_clock_skew(ours: SigningKey) -> None:
    codec = AccessTokenCodec(KeySet(ours), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=30)
    past = datetime.now(UTC) - timedelta(seconds=910)
    assert codec.verify(codec.issue(user_id=1, session_id=1, now=past)[0]).user_id == 1


def test_a_token_from_the_future_is_refused(codec: AccessTokenCodec) -> None:
    future = datetime.now(UTC) + timedelta(seconds=60)
    refused(codec, codec.issue(user_id=1, session_id=1, now=future)[0], "not yet valid")


def test_nbf_in_the_future_is_refused(codec: AccessTokenCodec, ours: SigningKey) -> None:
    refused(codec, forge(ours, claims(nbf=int(time.time()) + 60)), r"not yet valid \(nbf\)")


def test_a_wrong_audience_is_refused(codec: AccessTokenCodec, ours: SigningKey) -> None:
    refused(codec, forge(ours, claims(aud="another-api")), "(?i)audience")
    # Ours carry one audience: a token also meant for another service is not ours.
    refused(codec, forge(ours, claims(aud=[AUDIENCE, "another-api"])), "strict")


def test_a_wrong_issuer_is_refused(codec: AccessTokenCodec, ours: SigningKey) -> None:
    refused(codec, forge(ours, claims(iss="someone-else")), "issuer")


@pytest.mark.parametrize("missing", CLAIMS)
def test_a_missing_claim_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, missing: str
) -> None:
    refused(codec, forge(ours, claims(**{missing: None})), missing)


@pytest.mark.parametrize("sub", ["abc", "+42", " 42", "٤٢", 42])
def test_a_malformed_subject_is_refused(
    codec: AccessTokenCodec, ours: SigningKey, sub: object
) -> None:
    refused(codec, forge(ours, claims(sub=sub)))


@pytest.mark.parametrize(
    "token", ["", "not a jwt", "a.b.c", "x" * 5000, new_refresh_token(), "Bearer x.y.z"]
)
def test_things_that_are_not_jwts_are_refused(codec: AccessTokenCodec, token: str) -> None:
    refused(codec, token)


# The verification cache


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature gets checked from now on."""
    checked: list[str] = []
    real_decode = jwt.decode

    def spy(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", spy)
    return checked


def test_a_verified_token_is_served_from_the_cache(
    codec: AccessTokenCodec, decodes: list[str]
) -> None:
    token = codec.issue(user_id=1, session_id=1)[0]
    first = codec.verify(token)
    assert codec.verify(token) == first
    assert decodes == [token]


def test_the_cache_rechecks_expiry(
    codec: AccessTokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = codec.issue(user_id=1, session_id=1)[0]
    expires_at = codec.verify(token).expires_at
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: expires_at + 1))
    refused(codec, token, "expired")


def test_the_cache_is_bounded(codec: AccessTokenCodec, decodes: list[str]) -> None:
    codec.cache_size = 2
    issued = [codec.issue(user_id=n, session_id=n)[0] for n in range(3)]
    for token in issued:
        codec.verify(token)
    decodes.clear()
    codec.verify(issued[2])
    assert decodes == []
    codec.verify(issued[0])  # evicted, so checked again
    assert decodes == [issued[0]]


def test_a_refused_token_is_not_cached(codec: AccessTokenCodec, attacker: SigningKey) -> None:
    token = forge(attacker, claims())
    refused(codec, token)
    refused(codec, token)


# Keys: rotation, loading, JWKS


def test_rotation(ours: SigningKey) -> None:
    old_codec = AccessTokenCodec(KeySet(ours), issuer=ISSUER, audience=AUDIENCE)
    old_token = old_codec.issue(user_id=5, session_id=6)[0]

    new_key = SigningKey.generate()
    rotated = AccessTokenCodec(KeySet(new_key, [ours.public_key]), issuer=ISSUER, audience=AUDIENCE)
    assert rotated.verify(old_token).user_id == 5
    new_token = rotated.issue(user_id=5, session_id=6)[0]
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    with pytest.raises(InvalidToken):
        old_codec.verify(new_token)

    retired = AccessTokenCodec(KeySet(new_key), issuer=ISSUER, audience=AUDIENCE)
    refused(retired, old_token, "unknown kid")
    assert retired.verify(new_token).user_id == 5


async def test_load_keyset_from_secrets(ours: SigningKey, attacker: SigningKey) -> None:
    other = SigningKey.generate()
    store = EnvSecretStore(
        {
            "MINIFB_JWT_SIGNING_KEY": ours.to_pem().decode(),
            "MINIFB_JWT_VERIFY_KEYS": (public_pem(attacker) + public_pem(other)).decode(),
        }
    )
    keyset = await load_keyset(store, dev_key_dir=None)
    assert keyset.signing.kid == ours.kid
    assert keyset.kids == [ours.kid, attacker.kid, other.kid]


async def test_load_keyset_accepts_newlines_written_out(ours: SigningKey) -> None:
    flat = ours.to_pem().decode().replace("\n", "\\n")
    keyset = await load_keyset(EnvSecretStore({"MINIFB_JWT_SIGNING_KEY": flat}), dev_key_dir=None)
    assert keyset.kids == [ours.kid]


async def test_load_keyset_refuses_verify_keys_it_cannot_read(ours: SigningKey) -> None:
    store = EnvSecretStore(
        {"MINIFB_JWT_SIGNING_KEY": ours.to_pem().decode(), "MINIFB_JWT_VERIFY_KEYS": "oops"}
    )
    with pytest.raises(ValueError, match="no PEM public key"):
        await load_keyset(store, dev_key_dir=None)


async def test_load_keyset_refuses_a_key_that_is_not_p256() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    store = EnvSecretStore({"MINIFB_JWT_SIGNING_KEY": p384.decode()})
    with pytest.raises(ValueError, match="P-256"):
        await load_keyset(store, dev_key_dir=None)


async def test_load_keyset_without_any_key_is_an_error() -> None:
    with pytest.raises(MissingSigningKeyError, match="MINIFB_JWT_SIGNING_KEY"):
        await load_keyset(EnvSecretStore({}), dev_key_dir=None)


def file_names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_dev_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    key_dir = tmp_path / "var" / "keys"
    first = await load_keyset(EnvSecretStore({}), dev_key_dir=key_dir)
    assert file_names(key_dir) == ["jwt-signing-key.pem"]
    assert file_mode(key_dir / "jwt-signing-key.pem") == 0o600

    second = await load_keyset(EnvSecretStore({}), dev_key_dir=key_dir)
    assert second.signing.kid == first.signing.kid
    token = AccessTokenCodec(first, issuer=ISSUER, audience=AUDIENCE).issue(
        user_id=1, session_id=1
    )[0]
    assert AccessTokenCodec(second, issuer=ISSUER, audience=AUDIENCE).verify(token).user_id == 1


async def test_workers_starting_together_share_one_dev_key(tmp_path: Path) -> None:
    keysets = await asyncio.gather(
        *(load_keyset(EnvSecretStore({}), dev_key_dir=tmp_path) for _ in range(8))
    )
    assert len({keyset.signing.kid for keyset in keysets}) == 1
    assert file_names(tmp_path) == ["jwt-signing-key.pem"]


async def test_a_configured_key_wins_over_the_dev_key(ours: SigningKey, tmp_path: Path) -> None:
    store = EnvSecretStore({"MINIFB_JWT_SIGNING_KEY": ours.to_pem().decode()})
    keyset = await load_keyset(store, dev_key_dir=tmp_path / "keys")
    assert keyset.signing.kid == ours.kid
    assert file_names(tmp_path) == []


def rfc7638_thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    numbers = key.public_numbers()
    x, y = (b64(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'
    return b64(hashlib.sha256(canonical.encode()).digest())


def test_jwks_shape_and_kids(ours: SigningKey, attacker: SigningKey) -> None:
    keyset = KeySet(ours, [attacker.public_key, ours.public_key])
    document = keyset.jwks()
    assert list(document) == ["keys"]
    assert [jwk["kid"] for jwk in document["keys"]] == [ours.kid, attacker.kid]
    for jwk, key in zip(document["keys"], [ours, attacker], strict=True):
        assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256")
        assert jwk["kid"] == rfc7638_thumbprint(key.public_key)
        loaded = jwt.PyJWK(jwk).key
        assert loaded.public_numbers() == key.public_key.public_numbers()
    json.dumps(document)  # served as is


def test_a_token_verifies_against_the_published_jwks(
    codec: AccessTokenCodec, ours: SigningKey
) -> None:
    token = codec.issue(user_id=3, session_id=4)[0]
    jwk = jwt.PyJWK(KeySet(ours).jwks()["keys"][0])
    payload = jwt.decode(token, jwk, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert payload["sub"] == "3"


# Refresh tokens


def test_refresh_tokens_are_random_and_stored_hashed() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first != second
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert hash_refresh_token(first) == hashlib.sha256(first.encode()).hexdigest()
    assert hash_refresh_token(first) == hash_refresh_token(first)
    assert len(hash_refresh_token(first)) == 64
    assert hash_refresh_token(first) != hash_refresh_token(second)
