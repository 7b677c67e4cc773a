"""Immutable rows that read repositories return: plain values, no ORM identity or tracking."""

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Reader = AsyncSession | AsyncConnection
"""What a read repository runs its statements on: an ORM session or a Core connection."""
