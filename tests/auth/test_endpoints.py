"""The auth service over HTTP: register, login, refresh, logout, password change, JWKS."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.factories import PASSWORD, Person, register
from tests.fixtures.http import API


async def _login(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"login": login, "password": password})


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})


class TestRegister:
    async def test_returns_the_person_and_a_working_token_pair(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": "Ada_L",
                "email": "Ada@Example.com",
                "password": PASSWORD,
                "display_name": "Ada",
            },
        )
        assert response.status_code == 201
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["user"]["username"] == "ada_l"
        assert body["user"]["email"] == "ada@example.com"
        assert isinstance(body["user"]["id"], str)
        assert (await _me(client, body["access_token"])).status_code == 200

    @pytest.mark.parametrize("username", ["ADA_L", "ada_l"])
    async def test_username_is_unique_ignoring_case(
        self, client: httpx.AsyncClient, username: str
    ) -> None:
        await register(client, "ada_l")
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": username,
                "email": "other@example.com",
                "password": PASSWORD,
                "display_name": "A",
            },
        )
        assert response.status_code == 409

    async def test_email_is_unique_ignoring_case(self, client: httpx.AsyncClient) -> None:
        await register(client, "first", email="same@example.com")
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": "second",
                "email": "SAME@example.com",
                "password": PASSWORD,
                "display_name": "B",
            },
        )
        assert response.status_code == 409

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("username", "ab"),
            ("username", "a" * 31),
            ("username", "bad-name"),
            ("username", "admin"),
            ("email", "not-an-email"),
            # A special-use domain (RFC 6761) that no mail reaches.
            ("email", "ada@lovelace.test"),
            ("email", "ada@host.local"),
            ("password", "short"),
            ("password", "password"),
            ("password", "x" * 129),
            ("display_name", ""),
        ],
    )
    async def test_invalid_fields_are_422(
        self, client: httpx.AsyncClient, field: str, value: str
    ) -> None:
        body = {
            "username": "valid_name",
            "email": "v@example.com",
            "password": PASSWORD,
            "display_name": "V",
        }
        body[field] = value
        response = await client.post(f"{API}/auth/register", json=body)
        assert response.status_code == 422
        assert any(e["loc"][-1] == field for e in response.json()["errors"])

    async def test_unknown_fields_are_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{API}/auth/register",
            json={
                "username": "x_y_z",
                "email": "x@example.com",
                "password": PASSWORD,
                "display_name": "X",
                "is_admin": True,
            },
        )
        assert response.status_code == 422

    async def test_long_password_is_not_truncated(self, client: httpx.AsyncClient) -> None:
        long = "correct horse " * 9  # 126 characters
        person = await register(client, "longpw", password=long)
        assert (await _login(client, person.username, long)).status_code == 200
        assert (await _login(client, person.username, long[:-1] + "!")).status_code == 401


class TestLogin:
    async def test_by_username_and_by_email(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "bob")
        for login in ("bob", "BOB", "bob@example.com", "Bob@Example.com"):
            response = await _login(client, login)
            assert response.status_code == 200, login
            assert response.json()["user"]["id"] == person.id

    async def test_unknown_account_and_wrong_password_answer_identically(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "carol")
        wrong = await _login(client, "carol", "wrong password here")
        unknown = await _login(client, "nobody_here", "wrong password here")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()

    async def test_unknown_account_and_wrong_password_take_the_same_time(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "dave")

        async def timed(login: str) -> float:
            start = time.perf_counter()
            await _login(client, login, "wrong password here")
            return time.perf_counter() - start

        wrong = statistics.median([await timed("dave") for _ in range(5)])
        unknown = statistics.median([await timed("nobody_at_all") for _ in range(5)])
        # Both spend one argon2 verification; without the dummy one, unknown is ~10x faster.
        assert unknown > wrong * 0.5

    async def test_missing_fields_are_422(self, client: httpx.AsyncClient) -> None:
        assert (await client.post(f"{API}/auth/login", json={"login": "x"})).status_code == 422


class TestRefresh:
    async def test_rotates_the_refresh_token(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "frank")
        response = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["refresh_token"] != person.refresh_token
        assert (await _me(client, body["access_token"])).status_code == 200

    async def test_reusing_a_rotated_token_revokes_the_whole_family(
        self, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "grace")
        first = (
            await client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
        ).json()
        reuse = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}
        )
        assert reuse.status_code == 401
        # The legitimate holder's newer token and access token die with it.
        later = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert later.status_code == 401
        assert (await _me(client, first["access_token"])).status_code == 401
        assert (await _me(client, person.access_token)).status_code == 401

    async def test_reuse_leaves_other_logins_alive(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "heidi")
        other = (await _login(client, "heidi")).json()
        await client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
        await client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
        assert (await _me(client, other["access_token"])).status_code == 200

    async def test_concurrent_use_of_one_token_yields_one_winner(
        self, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "ivan")
        responses = await asyncio.gather(
            *[
                client.post(f"{API}/auth/refresh", json={"refresh_token": person.refresh_token})
                for _ in range(2)
            ]
        )
        assert sorted(r.status_code for r in responses) in ([200, 401], [401, 401])

    @pytest.mark.parametrize("token", ["", "garbage", "x" * 300])
    async def test_unknown_or_malformed_token(self, client: httpx.AsyncClient, token: str) -> None:
        response = await client.post(f"{API}/auth/refresh", json={"refresh_token": token})
        assert response.status_code in (401, 422)
        assert response.status_code == (401 if token == "garbage" else 422)

    async def test_refresh_token_is_not_an_access_token(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "judy")
        assert (await _me(client, person.refresh_token)).status_code == 401


class TestLogout:
    async def test_ends_the_login_and_its_access_token(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "ken")
        response = await client.post(
            f"{API}/auth/logout", json={"refresh_token": person.refresh_token}
        )
        assert response.status_code == 204
        assert (await _me(client, person.access_token)).status_code == 401
        refreshed = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": person.refresh_token}
        )
        assert refreshed.status_code == 401

    async def test_is_idempotent(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "leo")
        for _ in range(2):
            response = await client.post(
                f"{API}/auth/logout", json={"refresh_token": person.refresh_token}
            )
            assert response.status_code == 204

    async def test_needs_a_token_field(self, client: httpx.AsyncClient) -> None:
        assert (await client.post(f"{API}/auth/logout", json={})).status_code == 422


class TestPasswordChange:
    async def _change(
        self, client: httpx.AsyncClient, person: Person, current: str, new: str
    ) -> httpx.Response:
        return await client.post(
            f"{API}/auth/password",
            json={"current_password": current, "new_password": new},
            headers=person.headers,
        )

    async def test_changes_the_password_and_ends_every_other_login(
        self, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "mallory")
        other = (await _login(client, "mallory")).json()
        response = await self._change(client, person, PASSWORD, "a brand new passphrase")
        assert response.status_code == 200
        fresh = response.json()
        assert (await _me(client, fresh["access_token"])).status_code == 200
        for token in (person.access_token, other["access_token"]):
            assert (await _me(client, token)).status_code == 401
        for refresh in (person.refresh_token, other["refresh_token"]):
            resp = await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
            assert resp.status_code == 401
        assert (await _login(client, "mallory")).status_code == 401
        assert (await _login(client, "mallory", "a brand new passphrase")).status_code == 200

    async def test_wrong_current_password_is_refused(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "nina")
        response = await self._change(client, person, "not my password", "a brand new passphrase")
        assert response.status_code == 403
        assert (await _login(client, "nina")).status_code == 200

    async def test_weak_new_password_is_refused(self, client: httpx.AsyncClient) -> None:
        person = await register(client, "oscar")
        response = await self._change(client, person, PASSWORD, "12345678")
        assert response.status_code == 422
        assert (await _login(client, "oscar")).status_code == 200

    async def test_needs_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{API}/auth/password",
            json={"current_password": PASSWORD, "new_password": "another passphrase"},
        )
        assert response.status_code == 401


class TestJwks:
    async def test_publishes_the_key_that_verifies_access_tokens(
        self, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "peggy")
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        kid = jwt.get_unverified_header(person.access_token)["kid"]
        jwk = next(k for k in keys if k["kid"] == kid)
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(person.access_token, key, algorithms=["ES256"], audience="minifb-api")
        assert claims["sub"] == person.id
        assert "d" not in jwk  # never the private part


class TestMetrics:
    async def test_counts_registrations_logins_and_failures(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "quinn")
        await _login(client, "quinn")
        await _login(client, "quinn", "wrong password here")
        text = (await client.get("/metrics")).text
        assert "minifb_registrations_total 1.0" in text
        assert "minifb_logins_total 1.0" in text
        assert 'minifb_login_failures_total{reason="wrong_password"} 1.0' in text


def _hs256(claims: dict[str, object], kid: str, secret: bytes) -> str:
    # PyJWT refuses to use a public key as an HMAC secret, so forge by hand.
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class TestForgedAccessTokens:
    """The refusals of the token codec hold at the API's door too."""

    @staticmethod
    def _forgeries(app: FastAPI, person: Person) -> dict[str, str]:
        from datetime import UTC, datetime, timedelta

        from cryptography.hazmat.primitives import serialization

        from minifb.auth.tokens import AccessTokenCodec, SigningKey

        keyset = app.state.container.keyset
        claims = jwt.decode(person.access_token, options={"verify_signature": False})
        header = jwt.get_unverified_header(person.access_token)
        public_pem = keyset.signing.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        attacker = SigningKey.generate()
        past = datetime.now(UTC) - timedelta(hours=1)
        expired, _ = AccessTokenCodec(keyset, issuer="minifb", audience="minifb-api").issue(
            user_id=int(person.id), session_id=int(claims["sid"]), now=past
        )
        other_aud, _ = AccessTokenCodec(keyset, issuer="minifb", audience="elsewhere").issue(
            user_id=int(person.id), session_id=int(claims["sid"])
        )
        return {
            "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]}),
            "hs256 with public key": _hs256(claims, header["kid"], public_pem),
            "attacker key, our kid": jwt.encode(
                claims,
                attacker.private_key,
                algorithm="ES256",
                headers={"kid": header["kid"], "typ": header["typ"]},
            ),
            "jku header": jwt.encode(
                claims,
                attacker.private_key,
                algorithm="ES256",
                headers={
                    "kid": attacker.kid,
                    "typ": header["typ"],
                    "jku": "https://evil.example/jwks.json",
                },
            ),
            "expired": expired,
            "wrong audience": other_aud,
            "refresh token": person.refresh_token,
        }

    async def test_every_forgery_is_401(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        person = await register(client, "victim")
        assert (await _me(client, person.access_token)).status_code == 200
        for name, token in self._forgeries(app, person).items():
            response = await _me(client, token)
            assert response.status_code == 401, name
            assert response.headers["content-type"] == "application/problem+json"
