"""The process's database: engine, session factories, audit batcher and event bus.

Each operation's access goes through a `UnitOfWork` (db/unit_of_work.py), which explains how
reads share one snapshot and how writes commit; the engine is built by db/engine.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from core.logging import get_logger
from core.settings import Settings
from db.audit import capture as _capture  # noqa: F401 - registers the flush hook
from db.audit import chain
from db.audit.batch import Attributed, AuditBatcher
from db.audit.events import CHANNEL, AuditEventBus
from db.audit.keys import AuditKeys
from db.base import AppSession
from db.engine import SQLITE_BEGIN_IMMEDIATE, create_engine
from db.models.audit import AuditLog
from db.outages import outage_is_unavailable
from db.repositories import audit as audit_repo
from db.repositories import health as health_repo
from db.unit_of_work import UnitOfWork

log = get_logger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached within the configured retries."""


class Database:
    """The process's engine plus the read and write session factories built on it."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self.audit_keys = AuditKeys.of(
            *settings.audit_keys(), legacy_until=settings.audit_legacy_until_sequence
        )
        if settings.is_sqlite:
            read_options: dict[str, Any] = {}
            write_options: dict[str, Any] = {SQLITE_BEGIN_IMMEDIATE: True}
        else:
            read_options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            write_options = {"isolation_level": "READ COMMITTED"}
        # asyncpg opens the snapshot with one `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`.
        self.read_engine = self.engine.execution_options(**read_options)
        self._reader = self._sessionmaker(read_options)
        self._writer = self._sessionmaker(write_options)
        listen_dsn = None
        if not settings.is_sqlite:
            listen_dsn = self.engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
        self.events = AuditEventBus(self._audit_range, self._audit_head, listen_dsn)
        # SQLite has one writer at a time. Writers of this process queue here instead of in
        # SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self._write_turns = asyncio.Lock() if settings.is_sqlite else None
        self.audit_batcher = AuditBatcher(self._store_audit_batch)

    async def _store_audit_batch(self, rows: Sequence[Attributed]) -> None:
        """One write transaction appending the rows of a group commit (db/audit/batch.py)."""
        async with self.write_turn():
            session = self.write_session()
            try:
                with outage_is_unavailable():
                    async with session.begin():
                        appended = await chain.append_each(
                            session,
                            rows,
                            keys=self.audit_keys,
                            notify_channel=CHANNEL if self.events.shared else None,
                        )
            finally:
                await session.close()
        if appended is not None:
            self.events.committed(appended.first, appended.last)

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """Wait until this process may open a write transaction (SQLite); no wait otherwise."""
        if self._write_turns is None:
            yield
            return
        async with self._write_turns:
            yield

    def _sessionmaker(self, options: dict[str, Any]) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(
            bind=self.engine.execution_options(**options),
            sync_session_class=AppSession,
            expire_on_commit=False,
            autoflush=False,
        )

    async def _audit_range(self, first: int, last: int) -> Sequence[AuditLog]:
        async with self._reader() as session:
            return await audit_repo.rows_between(session, first, last)

    async def _audit_head(self) -> int:
        async with self._reader() as session:
            return await audit_repo.head_sequence(session)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def unit_of_work(self, actor_id: uuid.UUID | None = None) -> UnitOfWork:
        """A fresh unit of work for one operation."""
        return UnitOfWork(self, actor_id=actor_id)

    def session_on(self, connection: AsyncConnection) -> AsyncSession:
        """An ORM session that runs in `connection`'s open transaction (a snapshot's reads)."""
        return AsyncSession(
            bind=connection,
            sync_session_class=AppSession,
            expire_on_commit=False,
            autoflush=False,
        )

    def write_session(self) -> AsyncSession:
        """A session for one write transaction; used through a UnitOfWork."""
        return self._writer()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot be reached.

        A pooled connection that turns out to be dead is replaced once, as for a snapshot.
        """
        try:
            async with self.engine.connect() as connection:
                await health_repo.select_one(connection)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            async with self.engine.connect() as connection:
                await health_repo.select_one(connection)

    async def wait_until_reachable(self, attempts: int, delay_seconds: float) -> None:
        """Ping with retries at start-up; raise `DatabaseUnavailable` with a clear reason."""
        last_error: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                await self.ping()
            except Exception as error:
                last_error = error
                log.warning(
                    "database_unreachable",
                    attempt=attempt,
                    attempts=attempts,
                    error=type(error).__name__,
                )
                if attempt < attempts:
                    await asyncio.sleep(delay_seconds * attempt)
            else:
                return
        url = self.engine.url.render_as_string(hide_password=True)
        msg = f"database {url} unreachable after {attempts} attempts: {last_error}"
        raise DatabaseUnavailable(msg) from last_error

    async def dispose(self) -> None:
        """Wait for the audit rows being committed, then close every pooled connection."""
        await self.audit_batcher.drain()
        await self.engine.dispose()
