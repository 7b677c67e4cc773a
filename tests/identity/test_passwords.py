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


# --- how guessable: disguised common passwords and zxcvbn's score ------------------------------


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("Password123!", "password"),
        ("Welcome1!", "password"),
        ("Qwerty123!", "password"),
        ("P@ssw0rd2024!", "password"),
        ("Summer2026!!", "password"),
        ("2024!!Dragon", "password"),  # leading digits and symbols
        ("Hell0123!", "password"),  # a look-alike at the word's end, then digits
        ("1onDon2024!", "password"),  # 1 read as l
        ("$unSh1ne#99", "password"),  # 1 read as i, $ as s
        ("Encyclopedia1!", "word or name"),
    ],
)
def test_a_common_password_or_word_in_disguise_is_refused(password: str, kind: str) -> None:
    problems = passwords.password_problems(password, username="someone", email="s@example.com")
    assert [problem.message for problem in problems] == [
        f"Password is a common {kind} with only digits, symbols, capitals or look-alike "
        "characters (such as @ for a) added; choose a longer passphrase of uncommon words."
    ]
    assert [problem.field for problem in problems] == ["password"]


@pytest.mark.parametrize(
    "password",
    ["Corr3ct-Horse!Battery", "Demo-Ledger-2026!", "Violet-Tugboat-Quarry-88", "Tx!9#4$2&8*1"],
)
def test_passphrases_and_random_strings_pass(password: str) -> None:
    assert passwords.password_problems(password, username="someone", email="s@example.com") == []


def test_a_low_zxcvbn_score_is_refused_with_its_feedback() -> None:
    repeated = "Aa1!" + "é" * 34
    [problem] = passwords.password_problems(repeated, username="someone", email="s@example.com")
    assert problem.message == (
        'Password is too easy to guess. Repeats like "aaa" are easy to guess. '
        "Add another word or two. Uncommon words are better."
    )


def test_the_user_details_count_as_easy_guesses() -> None:
    details = {"username": "xq1", "email": "xq1@example.com"}
    assert passwords.password_problems("Xavrelt99!", **details) == []
    [problem] = passwords.password_problems("Xavrelt99!", **details, full_name="Xavrelt Quombly")
    assert problem.message.startswith("Password is too easy to guess.")
    [problem] = passwords.password_problems(
        "Quombly-7!", username="quombly", email="q@example.com"
    )  # the username inside is named by its own rule, so zxcvbn is not asked
    assert problem.message == "Password must not contain your username."


def test_zxcvbn_sees_a_bounded_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from auth import password_strength

    seen: list[tuple[str, list[str]]] = []

    def recording(password: str, user_inputs: list[str]) -> dict[str, object]:
        seen.append((password, user_inputs))
        return {"score": 4, "feedback": {"warning": "", "suggestions": []}}

    monkeypatch.setattr(password_strength, "zxcvbn", recording)
    long_password = "4@1!|3$5705+8(6Qz" * 4  # look-alikes everywhere: zxcvbn's slowest input
    assert password_strength.strength_problem(long_password, ["ann", "x" * 1000, ""]) is None
    [(scored, user_inputs)] = seen
    assert scored == long_password[: password_strength.ZXCVBN_MAX_CHARS]
    assert max(len(value) for value in user_inputs) == password_strength.MAX_USER_INPUT


def test_any_string_is_judged_without_error() -> None:
    from auth.password_strength import strength_problem

    assert strength_problem("Orbit\ud800Lantern+Fig7", []) is None  # a lone surrogate
    assert strength_problem("12345678!", []) is not None  # no letters at all


async def test_the_policy_runs_on_the_hashing_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []

    def recording(password: str, user_inputs: list[str]) -> None:
        threads.append(threading.current_thread().name)

    monkeypatch.setattr(passwords, "strength_problem", recording)
    hasher = PasswordHasher(4, 1)
    try:
        found = await hasher.problems("Corr3ct-Horse!Battery", username="ann", email="a@b.io")
    finally:
        hasher.close()
    assert found == []
    assert len(threads) == 1
    assert threads[0].startswith("bcrypt")
