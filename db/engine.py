"""The async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg); SQLite's connections set up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.settings import Settings
from db.repositories import connections

SQLITE_BEGIN_IMMEDIATE = "ledgerql_sqlite_begin_immediate"
"""Custom execution option: start SQLite transactions with BEGIN IMMEDIATE (write intent)."""


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""
    pool = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout_seconds,
    }
    if settings.is_sqlite:
        in_memory = ":memory:" in settings.database_url or "mode=memory" in settings.database_url
        engine = create_async_engine(settings.database_url, **({} if in_memory else pool))
        _configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url,
        **pool,
        # No pre-ping: the unit of work retries a snapshot's first statement once on a fresh
        # connection when its pooled one turns out to be dead (see `UnitOfWork`).
        pool_recycle=1800,
        connect_args={
            "server_settings": {"application_name": "ledgerql"},
            # An unreachable host fails within the pool timeout, not asyncpg's default 60 s.
            "timeout": settings.database_pool_timeout_seconds,
            # A server that stops answering (frozen host, network partition) fails a statement,
            # after this long instead of hanging the request.
            "command_timeout": settings.database_command_timeout_seconds,
        },
    )


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN emitted by us rather than by the driver.

    `recursive_triggers` makes the REPLACE conflict resolution (`INSERT OR REPLACE`, `REPLACE
    INTO`) fire DELETE triggers, so it cannot silently overwrite an immutable row.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Stop the sqlite3 module from issuing its own (late) BEGIN; see `_on_begin`.
        dbapi_connection.isolation_level = None
        connections.configure_sqlite(dbapi_connection, busy_timeout_ms=busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        connections.begin_sqlite(connection, immediate=options.get(SQLITE_BEGIN_IMMEDIATE, False))
