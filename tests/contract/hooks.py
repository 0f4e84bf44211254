"""schemathesis hooks for `make api-check` (loaded by tests/contract/run.py, which sets
`MINIFB_CONTRACT_URL`): who the generated requests are, and what a new password is.

Runs inside schemathesis's own environment (requirements/schemathesis.in), not
the app's: it imports schemathesis, hypothesis and requests, never `minifb`.
"""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import requests
import schemathesis
from hypothesis import strategies as st

BASE_URL = os.environ["MINIFB_CONTRACT_URL"]
TIMEOUT = 10


@schemathesis.auth(refresh_interval=300)
class SignedUpPerson:
    """Every request is sent as one person this run signs up.

    A 401 makes schemathesis drop the token and ask again (its `retry_on`), so a
    generated request that ended the login (a password change, a logout that
    found its refresh token) costs one fresh login, not the rest of the run.
    """

    def __init__(self) -> None:
        self.login: dict[str, str] | None = None

    def get(self, case: Any, context: Any) -> str:
        if self.login is None:
            self.login = self._sign_up()
        answer = requests.post(f"{BASE_URL}/api/v1/auth/login", json=self.login, timeout=TIMEOUT)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"

    @staticmethod
    def _sign_up() -> dict[str, str]:
        # Nobody else knows the password: no generated request can change it.
        username = f"contract_{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(24)
        answer = requests.post(
            f"{BASE_URL}/api/v1/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "display_name": "Contract Check",
            },
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        return {"login": username, "password": password}


# `format: password`: the document states a new password's policy in words (not a
# common password, not the username or email), which no JSON Schema keyword can;
# generated passwords are ones it accepts. Lengths still come from the schema.
schemathesis.openapi.format(
    "password",
    st.text(alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12).map(
        lambda s: f"pw-{s}"
    ),
)


def _cursor(key: int) -> str:
    # What `minifb.kit.pagination.encode_cursor` makes: base64url of "v1:<id>", unpadded.
    return base64.urlsafe_b64encode(f"v1:{key}".encode()).decode().rstrip("=")


# `format: cursor`: an opaque token the API issued (`next_cursor`), which a random
# string of the right alphabet is not; generated ones are cursors it could have issued.
schemathesis.openapi.format("cursor", st.integers(min_value=1, max_value=2**63 - 1).map(_cursor))
