"""Statements: the period a statement covers, whole UTC days with both ends included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from db.errors import ValidationFailed

MAX_STATEMENT_DAYS = 366


def statement_period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC for whole days `first_day`..`last_day`; VALIDATION_FAILED if invalid."""
    if last_day < first_day:
        raise ValidationFailed("`to` must not be before `from`.", field="to")
    if (last_day - first_day).days >= MAX_STATEMENT_DAYS:
        msg = f"A statement covers at most {MAX_STATEMENT_DAYS} days."
        raise ValidationFailed(msg, field="to")
    if last_day >= date.max:  # the day after it, where the period ends, does not exist
        raise ValidationFailed(f"`to` must be before {date.max.isoformat()}.", field="to")
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    return start, datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)
