"""Engine, session factories and the unit of work that gives each operation its database access.

Connections and concurrency: an `AsyncSession` (and an `AsyncConnection`) must never be used by
two tasks at once, and GraphQL resolves sibling fields concurrently. A `UnitOfWork` therefore owns
the database access of one operation and serializes every use of it behind an `asyncio.Lock`:

* reads share one pooled connection and one transaction for the whole operation, so a query sees
  a single consistent snapshot (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one deferred
  transaction in WAL mode). The operation's first database use checks the connection out and
  begins the transaction; authentication's statement is its first statement, and every loader
  and resolver reads on the same connection. The connection goes back to the pool when the
  operation ends, before a write transaction opens, and between subscription events;
* connections are not pinged when they leave the pool (that would cost a round trip each
  time): a pooled connection found dead by the first statement of a snapshot is discarded and
  that statement retried once on a fresh connection (nothing had been read, so no snapshot
  breaks). A second failure, or a failure later in the snapshot, is an outage (`UNAVAILABLE`);
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
from sqlalchemy.exc import DBAPIError
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
ReaderT = TypeVar("ReaderT", AsyncSession, AsyncConnection)

SQLITE_BEGIN_IMMEDIATE = "ledgerql_sqlite_begin_immediate"
"""Custom execution option: start SQLite transactions with BEGIN IMMEDIATE (write intent)."""


Transaction = AsyncSession
"""A unit of work's open write transaction, as services receive it: they flush, never commit."""

ReadOn = AsyncSession
"""What `read()` and `query()` hand to read repositories: an ORM session bound to the snapshot's
connection, while some repositories still select ORM entities. Once every read repository takes
a `db.records.Reader`, this becomes `AsyncConnection` (and `UnitOfWork._read_on` returns
`self._snapshot()`): the ORM leaves the read path."""


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


class UnitOfWork:
    """One operation's database access: a single read snapshot plus serialized write units."""

    def __init__(self, database: Database, actor_id: uuid.UUID | None = None) -> None:
        self._database = database
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None
        self._session: AsyncSession | None = None
        self._proven = False
        """Whether a statement of the current snapshot has succeeded (no retry after that)."""
        self.actor_id = actor_id
        self.audit_context = AuditContext()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ReadOn]:
        """Exclusive use of the operation's read session for one batch of statements.

        A block is not retried: the snapshot's first statement should go through `query` or
        `query_core`, which replace a dead pooled connection.
        """
        async with self._lock:
            with outage_is_unavailable():
                try:
                    yield await self._read_on()
                finally:  # whatever the block did, it did on this snapshot
                    self._proven = True

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """Exclusive use of the snapshot's connection for Core reads (not retried, as `read`)."""
        async with self._lock:
            with outage_is_unavailable():
                yield await self._snapshot()
                self._proven = True

    async def query(
        self,
        read: Callable[Concatenate[ReadOn, ParamsT], Awaitable[ResultT]],
        /,
        *args: ParamsT.args,
        **kwargs: ParamsT.kwargs,
    ) -> ResultT:
        """Run one repository read on the operation's snapshot (e.g. from a resolver)."""
        async with self._lock:
            with outage_is_unavailable():
                return await self._retried(self._read_on, lambda on: read(on, *args, **kwargs))

    async def query_core(
        self,
        read: Callable[Concatenate[AsyncConnection, ParamsT], Awaitable[ResultT]],
        /,
        *args: ParamsT.args,
        **kwargs: ParamsT.kwargs,
    ) -> ResultT:
        """Run one Core read on the snapshot's connection (authentication and every record read)."""
        async with self._lock:
            with outage_is_unavailable():
                return await self._retried(self._snapshot, lambda on: read(on, *args, **kwargs))

    async def _retried(
        self,
        reader: Callable[[], Awaitable[ReaderT]],
        run: Callable[[ReaderT], Awaitable[ResultT]],
    ) -> ResultT:
        """Run `run`, once more on a fresh connection if it was the snapshot's first statement.

        Only a connection found dead (invalidated) is replaced; the caller holds the lock.
        """
        if self._proven:
            return await run(await reader())
        try:
            return await run(await reader())
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.info("database_connection_replaced", error=type(error.orig).__name__)
            await self._end_read()  # the pool replaces every connection older than this one
            return await run(await reader())
        finally:  # statements ran (or failed for good): never re-run on a second snapshot
            self._proven = True

    async def _snapshot(self) -> AsyncConnection:
        """The operation's read connection, checked out and its transaction begun on first use."""
        if self._connection is None:
            connection = await self._database.read_engine.connect()
            try:
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
            self._connection, self._proven = connection, False
        return self._connection

    async def _read_on(self) -> ReadOn:
        """The ORM session bound to the snapshot's connection (joins its transaction)."""
        if self._session is None:
            self._session = self._database.session_on(await self._snapshot())
            self._session.info[ACTOR_KEY] = self.actor_id
        return self._session

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

        Empties `entries`, then returns once the write transaction shared with concurrent
        operations' rows committed (see db/audit/batch.py); raises `Unavailable` when it failed
        (its rows are then not stored, and not handed over again).
        """
        if entries:
            # Handed over once: a cancelled or failed wait must not submit the rows again.
            batch = list(entries)
            entries.clear()
            await self._database.audit_batcher.submit(batch, self.audit_context)

    async def _append_audit(
        self, session: AsyncSession, queued: list[AuditEntry]
    ) -> chain.Appended | None:
        await session.flush()
        await data_versions_repo.renew_data_versions(
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
        """Close the snapshot (a read-only transaction: rolled back) and return its connection."""
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        try:
            if session is not None:
                await session.close()
        finally:
            if connection is not None:
                await connection.close()
