"""How guessable a password is: common passwords behind easy disguises, and zxcvbn's score.

NIST SP 800-63B and OWASP ASVS 5.0 (6.2) ask for a check against breached and common passwords
and for no composition tricks to count as strength. Two checks, both on zxcvbn's data:

- the password's core, with added leading/trailing digits and symbols taken off, case folded
  and look-alike characters read back (`P@ssw0rd2024!` is `password`), must not be one of
  zxcvbn's frequency lists (common passwords, English words, names, film and TV words);
- zxcvbn must score the password at least `MIN_SCORE` (about 10^8 guesses), with the user's
  name and email as words it knows.

zxcvbn is pure Python and slow on long inputs full of look-alike characters, so it scores only
the first `ZXCVBN_MAX_CHARS` characters; callers run this module off the event loop.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_SCORE = 3
"""zxcvbn's scale is 0-4; 3 is "safely unguessable" (at least 10^8 guesses)."""
ZXCVBN_MAX_CHARS = 40
"""zxcvbn sees this many characters at most: ~100 ms worst case, ~1-3 ms typical."""
MIN_CORE = 4
"""Shorter cores (`ab` in `ab#9$kq!2%`) are left to zxcvbn: too many short words are listed."""
MAX_EDGE = 8
"""Longest run of added leading or trailing digits and symbols tried piece by piece."""

MAX_USER_INPUT = 254
"""Longest user detail (an email address) handed to zxcvbn; it bounds zxcvbn's dictionary."""

_LOOK_ALIKES = {"@": "a", "4": "a", "3": "e", "0": "o", "$": "s", "5": "s", "7": "t", "!": "i",
                "|": "l", "+": "t"}  # fmt: skip
_READINGS = tuple(str.maketrans({**_LOOK_ALIKES, "1": letter}) for letter in ("i", "l"))
"""Ways to read look-alikes back as letters; `1` stands for `i` or for `l`."""


@lru_cache(maxsize=1)
def listed_words() -> dict[str, str]:
    """Every word of zxcvbn's frequency lists, lower-cased, with the list it comes from."""
    words = {
        entry.lower(): "word or name"
        for name, entries in FREQUENCY_LISTS.items()
        if name != "passwords"
        for entry in entries
    }
    words.update((entry.lower(), "password") for entry in FREQUENCY_LISTS["passwords"])
    return words


def _edge_cuts(run: int) -> set[int]:
    """How much of an edge run of `run` non-letters to cut off: none, the whole, or a part."""
    return {*range(min(run, MAX_EDGE) + 1), run}


def _cores(folded: str) -> set[str]:
    """The password without any leading/trailing run of digits and symbols, read back as letters."""
    letters = [index for index, char in enumerate(folded) if char.isalpha()]
    if not letters:
        return {reading for table in _READINGS if (reading := folded.translate(table))}
    head, tail = letters[0], len(folded) - 1 - letters[-1]
    cores: set[str] = set()
    for cut_head, cut_tail in itertools.product(_edge_cuts(head), _edge_cuts(tail)):
        core = folded[cut_head : len(folded) - cut_tail]
        cores.update(core.translate(table) for table in _READINGS)
    return cores


def listed_core(password: str) -> str | None:
    """The kind of listed word ("password", "word or name") the password only disguises, if any."""
    words = listed_words()
    for core in sorted(_cores(password.casefold()), key=len, reverse=True):
        if len(core) >= MIN_CORE and core in words:
            return words[core]
    return None


def _user_words(user_inputs: list[str]) -> list[str]:
    """The user's details, and each word of them, for zxcvbn to treat as easy guesses."""
    words: list[str] = []
    for value in (value[:MAX_USER_INPUT] for value in user_inputs):
        if value:
            words.append(value)
            words.extend(part for part in re.split(r"[\s@._+-]+", value) if len(part) > 1)
    return words


def strength_problem(password: str, user_inputs: list[str]) -> str | None:
    """Why the password is easy to guess (a sentence after "Password "), or None if it is not."""
    kind = listed_core(password)
    if kind is not None:
        return (
            f"is a common {kind} with only digits, symbols, capitals or look-alike characters "
            "(such as @ for a) added; choose a longer passphrase of uncommon words"
        )
    result = zxcvbn(password[:ZXCVBN_MAX_CHARS], user_inputs=_user_words(user_inputs))
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    hints = [hint.rstrip(".") for hint in (feedback["warning"], *feedback["suggestions"][:1])]
    advice = ". ".join(hint for hint in hints if hint) or "Add another word or two"
    return f"is too easy to guess. {advice}"
