"""Rate-limit counters in `rate_limit_counters`: one atomic upsert per hit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RateLimitCounter
from db.repositories.rows import insert_for


async def count_hit(
    session: AsyncSession, key: str, *, cost: int, first: int, window_ends_at: datetime,
    now: datetime,
) -> tuple[int, datetime]:  # fmt: skip
    """Add `cost` hits to `key`'s window; returns its hits and when it ends.

    A key without a window, or whose window ended by `now`, starts a new one of `first` hits
    ending at `window_ends_at`.
    """
    counter = RateLimitCounter
    fresh = insert_for(session)(counter).values(key=key, hits=first, window_ends_at=window_ends_at)
    ended = counter.window_ends_at <= now
    statement = fresh.on_conflict_do_update(
        index_elements=[counter.key],
        set_={
            "hits": case((ended, first), else_=counter.hits + cost),
            "window_ends_at": case(
                (ended, fresh.excluded.window_ends_at), else_=counter.window_ends_at
            ),
        },
    ).returning(counter.hits, counter.window_ends_at)
    hits, ends = (await session.execute(statement)).one()
    return int(hits), ends
