"""The unit of work that gives each operation its database access.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.logging import get_logger
from db import data_versions
from db.audit import chain
from db.audit.entries import AuditContext, AuditEntry, take_pending
from db.audit.events import CHANNEL
from db.base import ACTOR_KEY
from db.errors import CommitThenFail, Unavailable
from db.outages import outage_is_unavailable
from db.repositories import data_versions as data_versions_repo

if TYPE_CHECKING:
    from db.session import Database

log = get_logger(__name__)
ParamsT = ParamSpec("ParamsT")
ResultT = TypeVar("ResultT")
ReaderT = TypeVar("ReaderT", AsyncSession, AsyncConnection)

Transaction = AsyncSession
"""A unit of work's open write transaction, as services receive it: they flush, never commit."""

ReadOn = AsyncSession
"""What `read()` and `query()` hand to read repositories: an ORM session bound to the snapshot's
connection, while some repositories still select ORM entities. Once every read repository takes
a `db.records.Reader`, this becomes `AsyncConnection` (and `UnitOfWork._read_on` returns
`self._snapshot()`): the ORM leaves the read path."""


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
