"""Rate-limit counters shared by every instance (fixed windows) and sign-in throttles."""

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


class LoginThrottle(Base):
    """Consecutive failed sign-ins under one canonical sign-in name, and its lock.

    Kept per name as typed (`name:<username key>` or `email:<email>`), whether or not an account
    has that name, so an unknown name is locked exactly like a real one and the answers of the
    two cannot be told apart.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int]
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
