"""Signed checkpoints of the audit chain's head, published by the server on a schedule.

Every `AUDIT_CHECKPOINT_INTERVAL_SECONDS` each instance logs one (`audit_checkpoint`) and
appends it to `AUDIT_CHECKPOINT_FILE` when set, so that the log pipeline carries checkpoints
out of the database's reach without anyone remembering to run `ledgerql audit-checkpoint`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from core.logging import get_logger
from core.settings import Settings
from db.audit import checkpoints
from db.session import Database

log = get_logger("ledgerql.audit")


async def publish_checkpoints(database: Database, settings: Settings) -> None:
    """Publish a checkpoint every interval until cancelled; a failed one is logged and skipped."""
    interval = settings.audit_checkpoint_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            async with database.unit_of_work() as uow:
                checkpoint = await uow.query(checkpoints.take, database.audit_keys)
            checkpoints.publish(checkpoint, settings.audit_checkpoint_file)
        except Exception as error:  # an outage or a full disk must not end the schedule
            log.error("audit_checkpoint_failed", error=type(error).__name__)


@contextlib.asynccontextmanager
async def checkpoint_schedule(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Run `publish_checkpoints` for the lifetime of the app (not at all when the interval is 0)."""
    if not settings.audit_checkpoint_interval_seconds:
        yield
        return
    task = asyncio.create_task(publish_checkpoints(database, settings))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
