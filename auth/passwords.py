"""Password hashing (bcrypt, off the event loop, bounded) and the password policy."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import TypeVar

import bcrypt
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from auth.password_strength import strength_problem
from db.errors import WeakPassword

MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt ignores everything after 72 bytes: refuse rather than truncate
_SPECIAL = re.compile(r"[^A-Za-z0-9]")
ResultT = TypeVar("ResultT")


def utf8(password: str) -> bytes:
    """A password's UTF-8 bytes; an unpaired surrogate is kept as its bytes, never an error."""
    return password.encode("utf-8", "surrogatepass")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (zxcvbn's list), lower-cased."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problems(
    password: str, *, username: str, email: str, full_name: str = ""
) -> list[WeakPassword]:
    """Every rule the password breaks, each as a WEAK_PASSWORD error naming the rule.

    How guessable it is (`strength_problem`, zxcvbn) is judged once the other rules are met.
    """
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(utf8(password)) > MAX_BYTES:
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
    if not problems:
        weakness = strength_problem(password, [username, email, full_name])
        problems += [weakness] if weakness else []
    return [WeakPassword(f"Password {problem}.", field="password") for problem in problems]


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's nice value by `niceness`, so it yields the CPU (Linux only).

    On Linux a thread is a schedulable task of its own, so `setpriority` on its native id
    changes that thread alone; elsewhere it would slow the whole process, so it is left alone.
    """
    if niceness > 0 and sys.platform == "linux":
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(current + niceness, 19))


class PasswordHasher:
    """bcrypt hashing on its own threads, at most `concurrency` at a time, at a lower priority.

    Hashing is deliberately slow CPU work. Running it at `niceness` above the event loop lets it
    use every idle cycle while the requests that are cheap to serve keep their latency when
    sign-ins pile up.
    """

    def __init__(self, rounds: int, concurrency: int, niceness: int = 0) -> None:
        self.rounds = rounds
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="bcrypt",
            initializer=lower_thread_priority, initargs=(niceness,),
        )  # fmt: skip
        self._dummy_hash: bytes | None = None

    async def _run(self, function: Callable[..., ResultT], *args: bytes) -> ResultT:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def problems(
        self, password: str, *, username: str, email: str, full_name: str = ""
    ) -> list[WeakPassword]:
        """`password_problems` on the hashing threads: zxcvbn, like bcrypt, is slow CPU work."""
        check = partial(
            password_problems, password, username=username, email=email, full_name=full_name
        )
        return await asyncio.get_running_loop().run_in_executor(self._pool, check)

    def close(self) -> None:
        """Stop the hashing threads (at shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        """A salted bcrypt hash of the password (which must be within 72 bytes)."""
        encoded = utf8(password)
        if len(encoded) > MAX_BYTES:
            msg = "password exceeds bcrypt's 72-byte limit"
            raise ValueError(msg)
        salt = bcrypt.gensalt(rounds=self.rounds)
        hashed = await self._run(bcrypt.hashpw, encoded, salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether the password matches; with no hash, spend the same time and say no."""
        encoded = utf8(password)
        if hashed is None or len(encoded) > MAX_BYTES:
            await self._burn_time(encoded[:MAX_BYTES])
            return False
        return await self._run(bcrypt.checkpw, encoded, hashed.encode("ascii"))

    async def prepare(self) -> bytes:
        """Make the dummy hash now, so the first unknown-user login is not slower than others."""
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash("dummy-Password-1!")).encode("ascii")
        return self._dummy_hash

    async def _burn_time(self, encoded: bytes) -> None:
        """Check against a dummy hash so unknown users take as long as known ones."""
        dummy = await self.prepare()
        await self._run(bcrypt.checkpw, encoded, dummy)
