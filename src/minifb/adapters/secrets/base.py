"""The secret store port: named secrets (keys, credentials) fetched at start-up."""

from __future__ import annotations

from typing import Protocol


class SecretStore(Protocol):
    """Looks up a secret by name, such as "jwt_signing_key".

    Names are lower snake case and independent of the backend; each store maps
    them to its own naming (an environment variable, a Secrets Manager id).
    """

    async def get(self, name: str) -> str | None:
        """The secret's value, or None when no such secret is configured."""
        ...
