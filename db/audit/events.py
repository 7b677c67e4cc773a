"""Live audit events: committed rows fanned out to this process's subscribers.

On PostgreSQL the appending transaction sends `NOTIFY ledgerql_audit, '<first>:<last>'`, which
the server delivers only if, and when, that transaction commits; every instance LISTENs on one
dedicated connection, so a subscriber on any instance sees events caused on any other. On SQLite
(one process) the unit of work hands the range to the bus right after its commit. Either way the
bus loads the rows once per range and puts them, in sequence order, on each subscriber's queue:
one `AuditEvent` per row, the same object for every subscriber, so what subscribers derive from a
row (e.g. a subscription's rendered result) can be computed once and shared through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from core.logging import get_logger
from db.models.audit import AuditLog

log = get_logger(__name__)

CHANNEL = "ledgerql_audit"
SUBSCRIBER_QUEUE_SIZE = 1000
RECONNECT_SECONDS = 1.0

RangeLoader = Callable[[int, int], Awaitable[Sequence[AuditLog]]]
HeadReader = Callable[[], Awaitable[int]]


class SubscriberTooSlow(RuntimeError):
    """A subscriber fell more than `SUBSCRIBER_QUEUE_SIZE` events behind."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One committed audit row, as every subscriber of this process receives it."""

    row: AuditLog
    shared: dict[Hashable, Any] = field(default_factory=dict, hash=False, compare=False)
    """What subscribers derive from the row, computed once by the first that needs it.

    It lives as long as the event: until every subscriber has passed it."""


class Subscription:
    """One subscriber's queue of committed audit rows."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[AuditEvent] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.overflowed = False

    async def next(self) -> AuditEvent:
        """The next committed row; raises `SubscriberTooSlow` once events had to be dropped.

        Only a full queue overflows, and a full queue never keeps `get` waiting, so waiting
        on the queue alone is enough: the overflow shows at the next call.
        """
        if self.overflowed:
            raise SubscriberTooSlow
        return await self.queue.get()

    def offer(self, event: AuditEvent) -> None:
        """Queue an event, or mark the subscriber overflowed when its queue is full."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class AuditEventBus:
    """Fans committed audit rows out to subscribers in this process."""

    def __init__(self, load: RangeLoader, head: HeadReader, listen_dsn: str | None) -> None:
        self._load = load
        self._head = head
        self._listen_dsn = listen_dsn
        self._subscribers: set[Subscription] = set()
        self._ranges: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._delivered = 0
        self._connected = asyncio.Event()

    @property
    def delivered(self) -> int:
        """The sequence of the last row handed to subscribers."""
        return self._delivered

    @property
    def shared(self) -> bool:
        """Whether events travel through PostgreSQL NOTIFY (shared by every instance)."""
        return self._listen_dsn is not None

    async def start(self) -> None:
        """Start delivering; on PostgreSQL, wait until the LISTEN connection is up."""
        if self._tasks:
            return
        try:
            self._delivered = await self._head()
        except Exception as error:  # not migrated yet: readiness reports it
            log.warning("audit_head_unavailable", error=type(error).__name__)
        self._tasks.append(asyncio.create_task(self._dispatch(), name="audit-dispatch"))
        if self._listen_dsn is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="audit-listen"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), timeout=10)

    async def stop(self) -> None:
        """Stop delivering and close the LISTEN connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def committed(self, first: int, last: int) -> None:
        """Announce a committed range (in-process delivery; PostgreSQL uses NOTIFY instead)."""
        if self._listen_dsn is None and self._tasks:  # nobody delivers before start()
            self._ranges.put_nowait((first, last))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """Receive every row committed from now on, until the block exits."""
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    async def _dispatch(self) -> None:
        while True:
            first, last = await self._ranges.get()
            first = max(first, self._delivered + 1)
            if last < first:
                continue
            try:
                rows = await self._load(first, last) if self._subscribers else []
            except Exception as error:  # the database hiccuped: log, keep serving
                log.error("audit_delivery_failed", error=type(error).__name__)
                continue
            self._delivered = last
            for row in rows:
                event = AuditEvent(row)
                for subscriber in list(self._subscribers):
                    subscriber.offer(event)

    async def _listen(self) -> None:
        import asyncpg  # noqa: PLC0415 - only PostgreSQL deployments need the driver here

        def on_notify(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            first, _, last = payload.partition(":")
            self._ranges.put_nowait((int(first), int(last)))

        while True:
            connection = None
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._listen_dsn)
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, on_notify)
                # Catch up on anything committed while we were not listening.
                head = await self._head()
                if head > self._delivered:
                    self._ranges.put_nowait((self._delivered + 1, head))
                self._connected.set()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("audit_listen_lost", error=type(error).__name__)
            finally:
                self._connected.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(RECONNECT_SECONDS)
