"""Failed token authentications, aggregated per source address and minute for the audit trail.

Audit rows are immutable, so a count cannot be kept in one row and raised later. Instead the
first failure of a source in a minute is recorded at once (count 1), the following ones of
that minute are only counted in memory, and when the minute is over one more row carries how
many followed. A flood from one address thus writes at most two rows a minute, whatever its
rate; beyond `max_sources` addresses in one minute, further addresses share the source `*`.
Counts are per process; those of the last minute before a shutdown are written at shutdown.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from core.logging import get_logger
from db.audit.entries import AuditEntry
from db.base import utcnow
from db.models import AuditAction, AuditStatus
from db.session import Database

log = get_logger(__name__)

MAX_SOURCES = 1000
"""Addresses tracked one by one per minute; more share one `*` entry."""
OTHER_SOURCES = "*"


def _entry(source: str, minute: datetime, reasons: Counter[str], *, first: bool) -> AuditEntry:
    count = sum(reasons.values())
    description = (
        "a token was rejected" if first else f"{count} more tokens were rejected in this minute"
    )
    return AuditEntry(
        action=AuditAction.TOKEN_REJECTED, status=AuditStatus.FAILURE, entity_type="Token",
        description=description, error_message=", ".join(sorted(reasons)),
        metadata={"source": source, "minute": minute.isoformat(), "count": count,
                  "reasons": dict(sorted(reasons.items()))},
        ip_address=None if source == OTHER_SOURCES else source,
    )  # fmt: skip


class TokenFailureTally:
    """Counts failed token authentications per source and minute; says which rows to write."""

    def __init__(self, max_sources: int = MAX_SOURCES) -> None:
        self._max_sources = max_sources
        self._minute: datetime | None = None
        self._later: dict[str, Counter[str]] = {}

    def note(self, source: str, reason: str) -> tuple[AuditEntry | None, list[AuditEntry]]:
        """Count one failure; returns its own row (first of the minute) and closed minutes' rows."""
        minute = utcnow().replace(second=0, microsecond=0)
        closed = self.close() if minute != self._minute else []
        self._minute = minute
        if source not in self._later and len(self._later) >= self._max_sources:
            source = OTHER_SOURCES
        if source not in self._later:
            self._later[source] = Counter()
            return _entry(source, minute, Counter({reason: 1}), first=True), closed
        self._later[source][reason] += 1
        return None, closed

    def close(self) -> list[AuditEntry]:
        """The rows of the current minute's later failures (at its end, or at shutdown)."""
        minute, later = self._minute, self._later
        self._minute, self._later = None, {}
        if minute is None:
            return []
        return [
            _entry(source, minute, reasons, first=False)
            for source, reasons in later.items()
            if reasons
        ]


async def store(database: Database, entries: list[AuditEntry]) -> None:
    """Append the rows in one transaction, each with its source address; failures are logged.

    One transaction however many addresses a minute saw: a flood from many addresses costs one
    append of the chain, not one per address.
    """
    if not entries:
        return
    try:
        async with database.unit_of_work() as uow:
            await uow.record(entries)
    except Exception as error:  # the caller is refused either way; keep its answer
        log.error("audit_token_rejections_write_failed", error=type(error).__name__)
