"""Secrets from environment variables, for development and simple deployments."""

from __future__ import annotations

import os
from collections.abc import Mapping


class EnvSecretStore:
    """Reads secret `name` from the variable `MINIFB_<NAME>`.

    `environ` defaults to the live process environment, read at each lookup.
    """

    prefix = "MINIFB_"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def variable(self, name: str) -> str:
        """The environment variable that holds secret `name`."""
        return self.prefix + name.upper()

    async def get(self, name: str) -> str | None:
        """The variable's value, or None when it is unset."""
        return self._environ.get(self.variable(name))
