"""Statement records: the figures of one account over a period."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """Balances and totals of one account over [start, end)."""

    opening: int
    closing: int
    credits: int
    debits: int
