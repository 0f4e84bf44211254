"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import argon2
from argon2.exceptions import VerificationError

P = ParamSpec("P")
T = TypeVar("T")

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS_CHECKED = 10_000

# OWASP Password Storage Cheat Sheet, argon2id option "m=19456 (19 MiB), t=2, p=1".
MEMORY_COST_KIB = 19_456
TIME_COST = 2
PARALLELISM = 1


class PasswordHasher:
    """argon2id hashing with OWASP parameters.

    Each hash takes tens of milliseconds of CPU: call the `*_async` methods
    from the event loop so other requests keep being served meanwhile.
    """

    def __init__(
        self,
        *,
        memory_cost: int = MEMORY_COST_KIB,
        time_cost: int = TIME_COST,
        parallelism: int = PARALLELISM,
    ) -> None:
        if memory_cost < MEMORY_COST_KIB or time_cost < TIME_COST or parallelism < 1:
            raise ValueError("argon2id parameters below the OWASP minimum")
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._dummy_lock = threading.Lock()
        self._dummy_hash: str | None = None
        # A pool of its own, one thread per core (threads start on demand):
        # more parallel hashes only queue for the CPU while holding 19 MiB
        # each, and a login flood must not starve other users of the default pool.
        self._executor = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="argon2"
        )

    def close(self) -> None:
        """Stop the hashing threads (at shutdown)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def hash(self, password: str) -> str:
        """The encoded hash (`$argon2id$v=19$m=...`) of the whole password."""
        return self._hasher.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        """Whether `password` matches `hash`; False too when `hash` is malformed."""
        try:
            return self._hasher.verify(hash, password)
        # ValueError covers InvalidHashError and text that will not encode.
        except (VerificationError, ValueError):
            return False

    def needs_rehash(self, hash: str) -> bool:
        """Whether `hash` was made with other parameters than today's (rehash at login)."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except ValueError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real `verify`, for a login naming no known account.

        Without it, "no such account" answers faster than "wrong password"
        and the difference tells an attacker which accounts exist.
        """
        self.verify(self._get_dummy_hash(), password)

    async def hash_async(self, password: str) -> str:
        """`hash` in a worker thread."""
        return await self._run(self.hash, password)

    async def verify_async(self, hash: str, password: str) -> bool:
        """`verify` in a worker thread."""
        return await self._run(self.verify, hash, password)

    async def verify_dummy_async(self, password: str) -> None:
        """`verify_dummy` in a worker thread."""
        await self._run(self.verify_dummy, password)

    def _get_dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self.hash(secrets.token_urlsafe(16))
            return self._dummy_hash

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))


def check_password_policy(
    password: str, *, username: str | None = None, email: str | None = None
) -> str | None:
    """The reason `password` is refused, in words for the user, or None if it is acceptable.

    Length counts characters and nothing truncates: the whole password is
    hashed. The checks are those of NIST SP 800-63B: a length range, no
    well-known password, nothing derived from the account itself.
    """
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return "The password contains characters that cannot be used."
    folded = password.lower()
    if folded in _common_passwords():
        return "This password is too common. Choose one that is harder to guess."
    if username and folded == username.lower():
        return "The password must not be your username."
    if email:
        local_part = email.rsplit("@", 1)[0]
        if folded in {email.lower(), local_part.lower()}:
            return "The password must not be your email address."
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    # Imported here: zxcvbn builds its dictionaries on import (~30 ms), which
    # only the processes that check a new password should pay.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ranked: list[str] = FREQUENCY_LISTS["passwords"]
    return frozenset(word.lower() for word in ranked[:COMMON_PASSWORDS_CHECKED])
