"""bcrypt runs off the event loop, at most N at a time, at cost 12 by default."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import bcrypt
import pytest

from auth import passwords
from auth.passwords import PasswordHasher
from core.settings import Settings


async def test_hashing_is_bounded_and_leaves_the_event_loop_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow_hashpw(password: bytes, salt: bytes) -> bytes:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return b"$2b$04$" + b"x" * 53

    monkeypatch.setattr(passwords.bcrypt, "hashpw", slow_hashpw)
    hasher = PasswordHasher(rounds=4, concurrency=2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    beat = asyncio.create_task(ticker())
    await asyncio.gather(*(hasher.hash("Corr3ct-Horse!Battery") for _ in range(6)))
    beat.cancel()
    assert peak == 2
    assert ticks >= 20  # ~150 ms of hashing, and the loop kept ticking all along


async def test_default_cost_is_12_and_hashes_verify() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.bcrypt_rounds == 12
    hasher = PasswordHasher(settings.bcrypt_rounds, 1)
    hashed = await hasher.hash("Corr3ct-Horse!Battery")
    assert hashed.startswith("$2b$12$")
    assert await hasher.verify("Corr3ct-Horse!Battery", hashed)
    assert not await hasher.verify("Corr3ct-Horse!Batter", hashed)
    assert bcrypt.checkpw(b"Corr3ct-Horse!Battery", hashed.encode())


async def test_passwords_beyond_72_bytes_are_refused_not_truncated() -> None:
    hasher = PasswordHasher(4, 1)
    with pytest.raises(ValueError, match="72-byte"):
        await hasher.hash("É" * 37)
    stored = await hasher.hash("A" * 72)
    assert not await hasher.verify("A" * 72 + "extra", stored)


def test_cheap_hashing_is_refused_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="BCRYPT_ROUNDS below 12"):
        Settings(_env_file=None, bcrypt_rounds=4, app_env="local")  # type: ignore[call-arg]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
async def test_hashing_threads_run_at_a_lower_priority_than_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []

    def recording_hashpw(password: bytes, salt: bytes) -> bytes:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return b"$2b$04$" + b"x" * 53

    monkeypatch.setattr(passwords.bcrypt, "hashpw", recording_hashpw)
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    hasher = PasswordHasher(rounds=4, concurrency=2, niceness=5)
    try:
        await asyncio.gather(*(hasher.hash("Corr3ct-Horse!Battery") for _ in range(4)))
    finally:
        hasher.close()
    assert seen == [min(loop_priority + 5, 19)] * 4
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority
