"""Statements a SQLite connection runs on itself: its settings when opened, and its BEGIN."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def configure_sqlite(dbapi_connection: Any, *, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, recursive triggers, a busy timeout and NORMAL sync on a new connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA recursive_triggers=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def begin_sqlite(connection: Connection, *, immediate: bool) -> None:
    """Open the transaction: `BEGIN IMMEDIATE` with write intent, else a deferred `BEGIN`."""
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
