"""Password hashing (bcrypt, off the event loop, bounded) and the password policy."""

from __future__ import annotations

import re
from functools import lru_cache

import anyio.to_thread
import bcrypt
from anyio import CapacityLimiter
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from db.errors import WeakPassword

MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt ignores everything after 72 bytes: refuse rather than truncate
_SPECIAL = re.compile(r"[^A-Za-z0-9]")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (zxcvbn's list), lower-cased."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, *, username: str, email: str) -> list[WeakPassword]:
    """Every rule the password breaks, each as a WEAK_PASSWORD error naming the rule."""
    field = ["input", "password"]
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password.encode("utf-8")) > MAX_BYTES:
        problems.append(f"must be at most {MAX_BYTES} bytes in UTF-8")
    if not re.search(r"[A-Z]", password):
        problems.append("must contain an uppercase letter")
    if not re.search(r"[a-z]", password):
        problems.append("must contain a lowercase letter")
    if not re.search(r"[0-9]", password):
        problems.append("must contain a digit")
    if not _SPECIAL.search(password):
        problems.append("must contain a special character")
    lowered = password.lower()
    for label, value in (("username", username), ("email", email)):
        if value and value.lower() in lowered:
            problems.append(f"must not contain your {label}")
    if lowered in common_passwords():
        problems.append("is too common")
    return [WeakPassword(f"Password {problem}.", field=field) for problem in problems]


class PasswordHasher:
    """bcrypt hashing on worker threads, at most `concurrency` at a time."""

    def __init__(self, rounds: int, concurrency: int) -> None:
        self.rounds = rounds
        self._limiter = CapacityLimiter(concurrency)
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        """A salted bcrypt hash of the password (which must be within 72 bytes)."""
        encoded = password.encode("utf-8")
        if len(encoded) > MAX_BYTES:
            msg = "password exceeds bcrypt's 72-byte limit"
            raise ValueError(msg)
        salt = bcrypt.gensalt(rounds=self.rounds)
        hashed = await anyio.to_thread.run_sync(bcrypt.hashpw, encoded, salt, limiter=self._limiter)
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether the password matches; with no hash, spend the same time and say no."""
        encoded = password.encode("utf-8")
        if hashed is None or len(encoded) > MAX_BYTES:
            await self._burn_time(encoded[:MAX_BYTES])
            return False
        return await anyio.to_thread.run_sync(
            bcrypt.checkpw, encoded, hashed.encode("ascii"), limiter=self._limiter
        )

    async def prepare(self) -> bytes:
        """Make the dummy hash now, so the first unknown-user login is not slower than others."""
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash("dummy-Password-1!")).encode("ascii")
        return self._dummy_hash

    async def _burn_time(self, encoded: bytes) -> None:
        """Check against a dummy hash so unknown users take as long as known ones."""
        dummy = await self.prepare()
        await anyio.to_thread.run_sync(bcrypt.checkpw, encoded, dummy, limiter=self._limiter)
