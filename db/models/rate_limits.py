"""Rate-limit counters shared by every instance (fixed windows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime


class RateLimitCounter(Base):
    """Hits of one key in its current window; a new window starts once `window_ends_at` passed."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int]
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
