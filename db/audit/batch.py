"""Group commit of the audit rows operations queue outside a write transaction of their own.

Reads of sensitive data, FORBIDDEN refusals and rejected tokens are recorded when their operation
ends. Instead of one write transaction per operation, the rows of concurrent operations share
one: the first operation to hand rows in starts a flush at once (no timer, so a request alone
is committed without delay); rows handed in while a flush is in progress join the next one.
Each flush is one write transaction with one append to the hash chain, holding at most
`MAX_BATCH_ROWS` rows (an operation's rows are never split, and keep their order). Every
operation waits for the commit of the batch holding its rows before it answers; when that
commit fails, every operation of the batch gets `Unavailable` and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from core.logging import get_logger
from db.audit.entries import AuditContext, AuditEntry
from db.errors import Unavailable
from db.outages import OUTAGE_RETRY_SECONDS

log = get_logger(__name__)

MAX_BATCH_ROWS = 500
"""Rows one flush appends at most (more wait for the next flush)."""

Attributed = tuple[AuditEntry, AuditContext]
"""An audit entry with the request it comes from (request id, address, user agent)."""
StoreBatch = Callable[[Sequence[Attributed]], Awaitable[None]]
"""Stores rows in one write transaction, or raises and stores none of them."""


@dataclass(slots=True)
class _Waiting:
    """One operation's rows and the future its operation awaits."""

    rows: list[Attributed]
    committed: asyncio.Future[None]


class AuditBatcher:
    """Stores the audit rows of concurrent operations of this process in shared transactions."""

    def __init__(self, store: StoreBatch, *, max_rows: int = MAX_BATCH_ROWS) -> None:
        self._store = store
        self._max_rows = max_rows
        self._waiting: deque[_Waiting] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many operations' rows wait for the next flush."""
        return len(self._waiting)

    async def submit(self, entries: Sequence[AuditEntry], context: AuditContext) -> None:
        """Queue one operation's rows and return once the batch holding them is committed.

        Raises `Unavailable` when that batch could not be stored.
        """
        if not entries:
            return
        loop = asyncio.get_running_loop()
        waiting = _Waiting([(entry, context) for entry in entries], loop.create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            # A context of its own: the flush belongs to no one request (its logs neither).
            self._flusher = loop.create_task(
                self._flush_all(), name="audit-batch", context=contextvars.Context()
            )
        await waiting.committed

    async def drain(self) -> None:
        """Wait until every row handed in so far is committed or has failed (at shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush_all(self) -> None:
        try:
            while self._waiting:
                await self._flush(self._next_batch())
        finally:  # cancelled (shutdown): nobody may wait for a flush that will not come
            while self._waiting:
                _fail(self._waiting.popleft())

    def _next_batch(self) -> list[_Waiting]:
        batch = [self._waiting.popleft()]
        size = len(batch[0].rows)
        while self._waiting and size + len(self._waiting[0].rows) <= self._max_rows:
            size += len(self._waiting[0].rows)
            batch.append(self._waiting.popleft())
        return batch

    async def _flush(self, batch: list[_Waiting]) -> None:
        rows = [row for waiting in batch for row in waiting.rows]
        try:
            await self._store(rows)
        except BaseException as error:
            log.error(
                "audit_batch_write_failed",
                rows=len(rows),
                operations=len(batch),
                error=type(error).__name__,
            )
            for waiting in batch:
                _fail(waiting)
            if not isinstance(error, Exception):
                raise
            return
        for waiting in batch:
            if not waiting.committed.done():  # its operation may have been cancelled
                waiting.committed.set_result(None)


def _fail(waiting: _Waiting) -> None:
    if not waiting.committed.done():
        waiting.committed.set_exception(Unavailable(OUTAGE_RETRY_SECONDS))
