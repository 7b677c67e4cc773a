"""Liveness probes of the database used by the GraphQL `health` query."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def database_answers(session: AsyncSession) -> bool:
    """Whether `SELECT 1` returns 1 on this session's connection."""
    result = await session.execute(text("SELECT 1"))
    return bool(result.scalar_one() == 1)
