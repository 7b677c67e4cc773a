"""Fixed-window rate-limit counters: in this process, or in the database for every instance.

Written here because no maintained limiter has an async PostgreSQL store (`limits` stores in
memory, Redis, Memcached or MongoDB; pyrate-limiter's PostgreSQL bucket is synchronous).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from db.base import utcnow
from db.outages import outage_is_unavailable
from db.repositories import rate_limits as repo
from db.session import Database

MAX_MEMORY_KEYS = 100_000
"""Expired windows are dropped once this many keys are held in memory."""

MAX_KEY_LENGTH = 255
"""The length of `rate_limit_counters.key`."""


def stored_key(key: str) -> str:
    """`key` as stored: one longer than the column becomes a prefix and its SHA-256.

    Keys carry client input (the username of a login), which may be of any length.
    """
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: MAX_KEY_LENGTH - len(digest) - 1]}#{digest}"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `hits` per window of `seconds`."""

    hits: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """A limit from its HITS/SECONDS notation, e.g. "5/900"."""
        hits, _, seconds = text.partition("/")
        return cls(int(hits), int(seconds))


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a hit is within its limit, what is left of the window, and when it ends."""

    allowed: bool
    retry_after: int
    remaining: int
    resets_at: datetime


def _decide(hits: int, window_ends_at: datetime, limit: Limit, now: datetime) -> Decision:
    retry_after = max(1, math.ceil((window_ends_at - now).total_seconds()))
    return Decision(
        allowed=hits <= limit.hits, retry_after=retry_after,
        remaining=max(0, limit.hits - hits), resets_at=window_ends_at,
    )  # fmt: skip


class Counters(Protocol):
    """Counts one hit of a key and decides it against a limit."""

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Count the hit, weighing `cost` (also when refused), and decide."""
        ...


class MemoryCounters:
    """Counters of this process (the default with SQLite, which is one process)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, datetime]] = {}

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """No await between read and write: atomic on the event loop."""
        now, key = utcnow(), stored_key(key)
        hits, ends = self._windows.get(key, (0, now))
        if ends <= now:
            hits, ends = 0, now + timedelta(seconds=limit.seconds)
        total = max(0, hits + cost)  # a refund (negative cost) never goes below zero
        self._windows[key] = (total, ends)
        if len(self._windows) > MAX_MEMORY_KEYS:
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        return _decide(total, ends, limit, now)


class DatabaseCounters:
    """Counters in `rate_limit_counters`: one atomic upsert per hit, shared by every instance."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Start a new window when the stored one has ended, else add `cost` hits."""
        now = utcnow()
        first = max(0, cost)  # a refund (negative cost) never takes a new window below zero
        ends_at = now + timedelta(seconds=limit.seconds)
        with outage_is_unavailable():
            async with self._database.write_session() as session, session.begin():
                hits, ends = await repo.count_hit(
                    session, stored_key(key), cost=cost, first=first, window_ends_at=ends_at,
                    now=now,
                )  # fmt: skip
        return _decide(hits, ends, limit, now)
