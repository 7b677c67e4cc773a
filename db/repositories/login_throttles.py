"""Failed sign-ins per canonical sign-in name (known or not) and the locks they lead to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LoginThrottle

FORGET_AFTER = timedelta(days=1)
"""Failures of a name that saw none for this long (and is not locked) are forgotten."""
PRUNE_BATCH = 100


async def locked_until(session: AsyncSession, key: str) -> datetime | None:
    """When the last lock on `key` ends or ended (None when it has none); callers compare."""
    statement = select(LoginThrottle.locked_until).where(LoginThrottle.key == key)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_for_update(session: AsyncSession, key: str) -> LoginThrottle | None:
    """The throttle of `key`, row-locked until the transaction ends."""
    statement = select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    return (await session.execute(statement)).scalars().first()


async def record_failure(
    session: AsyncSession, key: str, *, now: datetime, max_failures: int, lockout: timedelta
) -> tuple[LoginThrottle, bool]:
    """Count one more failure of `key`; returns the throttle and whether this failure locked it.

    A lock that has ended starts the count afresh. Stale rows are pruned first, skipping rows
    other transactions hold, so a flood of names cannot grow the table without end.
    """
    stale = (
        select(LoginThrottle.key)
        .where(
            LoginThrottle.last_failed_at < now - FORGET_AFTER,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, locked_until=None, last_failed_at=now)
        .on_conflict_do_nothing(index_elements=[LoginThrottle.key])
    )
    locked = (
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)  # it may have been pruned and inserted anew
    )
    throttle = (await session.execute(locked)).scalar_one()
    if throttle.locked_until is not None and throttle.locked_until <= now:
        throttle.failures, throttle.locked_until = 0, None
    throttle.failures += 1
    throttle.last_failed_at = now
    newly_locked = throttle.locked_until is None and throttle.failures >= max_failures
    if newly_locked:
        throttle.locked_until = now + lockout
    await session.flush()
    return throttle, newly_locked


async def forget(session: AsyncSession, keys: Sequence[str]) -> None:
    """Clear the failures of `keys` (after a successful sign-in)."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
