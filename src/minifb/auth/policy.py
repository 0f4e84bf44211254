"""The auth service's policy values, built once from the settings by the composition root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    refresh_ttl: int
    """Seconds a login (and its refresh tokens) lasts from when it was opened."""
    throttle: bool = True
    """Whether the credential endpoints are throttled (docs/decisions/0104); off in tests
    and load runs that sign up many people from one address."""
