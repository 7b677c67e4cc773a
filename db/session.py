"""Engine, session factories and the unit of work that gives each operation its database access.

Sessions and concurrency: an `AsyncSession` must never be used by two tasks at once, and GraphQL
resolves sibling fields concurrently. A `UnitOfWork` therefore owns the sessions of one
operation and serializes every use of them behind an `asyncio.Lock`:

* reads share one transaction for the whole operation, so a query sees a single consistent
  snapshot (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one deferred transaction in WAL mode);
* a write (`write()`) is one transaction, committed once when its block exits, with the audit
  rows of the change appended as its last step (after raising the data versions of the users
  whose data it changed, see db/data_versions.py), and rolled back on any exception. Services run
  inside it and only flush. On SQLite it starts with `BEGIN IMMEDIATE`, after this process's
  writers have queued on an `asyncio.Lock` (SQLite has one writer at a time); writers of other
  processes wait on the busy timeout. Reads after a write start a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.logging import get_logger
from core.settings import Settings
from db import data_versions
from db.audit import capture as _capture  # noqa: F401 - registers the flush hook
from db.audit import chain
from db.audit.batch import Attributed, AuditBatcher
from db.audit.entries import AuditContext, AuditEntry, take_pending
from db.audit.events import CHANNEL, AuditEventBus
from db.audit.keys import AuditKeys
from db.base import ACTOR_KEY, AppSession
from db.errors import CommitThenFail, Unavailable
from db.models.audit import AuditLog
from db.outages import outage_is_unavailable
from db.repositories import audit as audit_repo
from db.repositories import connections
from db.repositories import data_versions as data_versions_repo
from db.repositories import health as health_repo

log = get_logger(__name__)
ParamsT = ParamSpec("ParamsT")
ResultT = TypeVar("ResultT")

SQLITE_BEGIN_IMMEDIATE = "ledgerql_sqlite_begin_immediate"
"""Custom execution option: start SQLite transactions with BEGIN IMMEDIATE (write intent)."""
SQLITE_NO_TRANSACTION = "ledgerql_sqlite_no_transaction"
"""Custom execution option: send no BEGIN at all (one-statement reads run atomically anyway)."""


Transaction = AsyncSession
"""A unit of work's open write transaction, as services receive it: they flush, never commit."""


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached within the configured retries."""


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
        pool_pre_ping=True,  # a connection the database dropped is replaced, not handed out
        pool_recycle=1800,
        connect_args={
            "server_settings": {"application_name": "ledgerql"},
            # An unreachable host fails within the pool timeout, not asyncpg's default 60 s.
            "timeout": settings.database_pool_timeout_seconds,
            # A server that stops answering (frozen host, network partition) fails a statement,
            # pre-ping included, after this long instead of hanging the request.
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
        if options.get(SQLITE_NO_TRANSACTION, False):
            return  # one statement: SQLite runs it atomically on its own
        connections.begin_sqlite(connection, immediate=options.get(SQLITE_BEGIN_IMMEDIATE, False))


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
        # Single statements need no transaction around them: one round trip, not three.
        self.single_statement_engine = self.engine.execution_options(
            **(
                {SQLITE_NO_TRANSACTION: True}
                if settings.is_sqlite
                else {"isolation_level": "AUTOCOMMIT"}
            )
        )
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

    def read_session(self) -> AsyncSession:
        """A session for a read-only snapshot; used through a UnitOfWork."""
        return self._reader()

    def write_session(self) -> AsyncSession:
        """A session for one write transaction; used through a UnitOfWork."""
        return self._writer()

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot be reached."""
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


class UnitOfWork:
    """One operation's database access: a single read snapshot plus serialized write units."""

    def __init__(self, database: Database, actor_id: uuid.UUID | None = None) -> None:
        self._database = database
        self._lock = asyncio.Lock()
        self._reader: AsyncSession | None = None
        self.actor_id = actor_id
        self.audit_context = AuditContext()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Exclusive use of the operation's read session for one batch of statements."""
        async with self._lock:
            if self._reader is None:
                self._reader = self._database.read_session()
                self._reader.info[ACTOR_KEY] = self.actor_id
            with outage_is_unavailable():
                yield self._reader

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection of its own for one-statement Core reads outside the snapshot.

        For authentication, which runs on every request: it needs no ORM session, and the
        operation's snapshot is only opened if the operation reads anything else.
        """
        with outage_is_unavailable():
            async with self._database.single_statement_engine.connect() as connection:
                yield connection

    async def query(
        self,
        read: Callable[Concatenate[AsyncSession, ParamsT], Awaitable[ResultT]],
        /,
        *args: ParamsT.args,
        **kwargs: ParamsT.kwargs,
    ) -> ResultT:
        """Run one repository read on the operation's snapshot (e.g. from a resolver)."""
        async with self.read() as session:
            return await read(session, *args, **kwargs)

    @asynccontextmanager
    async def write(self, queued: list[AuditEntry] | None = None) -> AsyncIterator[Transaction]:
        """One write transaction: committed when the block exits, rolled back if it raises.

        The block's services flush and never commit. The audit entries they record, then
        `queued` (rows the operation gathered so far, emptied once they are committed), are
        chained and inserted as the transaction's last step. When the block raises, its
        `durable` entries (a refused refresh) are still stored, in a transaction of their
        own; a `CommitThenFail` commits the block's changes first, then raises its error.
        """
        async with self._lock, self._database.write_turn():
            await self._end_read()
            session = self._database.write_session()
            session.info[ACTOR_KEY] = self.actor_id
            appended: chain.Appended | None = None
            failure: CommitThenFail | None = None
            try:
                with outage_is_unavailable():
                    async with session.begin():
                        try:
                            yield session
                        except CommitThenFail as raised:
                            failure = raised
                        appended = await self._append_audit(session, queued or [])
            except Exception as error:
                durable = [entry for entry in take_pending(session) if entry.durable]
                if durable and not isinstance(error, Unavailable):  # no use while it is down
                    await self._store_durable(durable)
                raise
            finally:
                await session.close()
            if queued:
                queued.clear()
            if appended is not None:
                self._database.events.committed(appended.first, appended.last)
            if failure is not None:
                raise failure.error

    async def record(self, entries: list[AuditEntry]) -> None:
        """Store audit entries (reads, denials) in the process's next group commit.

        Returns once the write transaction shared with concurrent operations' rows committed
        (see db/audit/batch.py), and empties `entries`; raises `Unavailable` when it failed.
        """
        if entries:
            await self._database.audit_batcher.submit(entries, self.audit_context)
            entries.clear()

    async def _append_audit(
        self, session: AsyncSession, queued: list[AuditEntry]
    ) -> chain.Appended | None:
        await session.flush()
        await data_versions_repo.raise_data_versions(
            session, data_versions.take(session.sync_session)
        )
        return await chain.append(
            session,
            [*take_pending(session), *queued],
            self.audit_context,
            keys=self._database.audit_keys,
            notify_channel=self._channel,
        )

    @property
    def _channel(self) -> str | None:
        return CHANNEL if self._database.events.shared else None

    async def _store_durable(self, entries: list[AuditEntry]) -> None:
        session = self._database.write_session()
        try:
            async with session.begin():
                appended = await chain.append(
                    session,
                    entries,
                    self.audit_context,
                    keys=self._database.audit_keys,
                    notify_channel=self._channel,
                )
        except Exception as error:  # never hide the original failure behind this one
            log.error("audit_durable_write_failed", error=type(error).__name__)
            return
        finally:
            await session.close()
        if appended is not None:
            self._database.events.committed(appended.first, appended.last)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End the read snapshot and give the connection back to the pool."""
        async with self._lock:
            await self._end_read()

    async def _end_read(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
