"""Liveness probes of the database: the GraphQL `health` query and the start-up ping."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PROBE = text("SELECT 1")


async def database_answers(session: AsyncSession) -> bool:
    """Whether `SELECT 1` returns 1 on this session's connection."""
    result = await session.execute(PROBE)
    return bool(result.scalar_one() == 1)


async def select_one(connection: AsyncConnection) -> None:
    """Run `SELECT 1` on a connection; raises when the database cannot be reached."""
    await connection.execute(PROBE)
