"""Which failures are database outages, so they answer UNAVAILABLE (503, retryable).

One place decides: a database that is down or restarting, a connection that broke, no pooled
connection within the pool timeout, and a SQLite file that another writer holds locked past the
busy timeout (or that cannot be opened). Anything else stays an unexpected (INTERNAL) error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.logging import get_logger
from db.errors import Unavailable

log = get_logger(__name__)

OUTAGE_RETRY_SECONDS = 1
"""`retryAfter` (and HTTP `Retry-After`) of an outage: short, the client backs off itself."""

SQLITE_OUTAGE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
)
"""sqlite3 errors that mean "not now" (locked, busy, file gone) rather than a bad statement."""

ASYNCPG_OUTAGES = (
    asyncpg.exceptions.PostgresConnectionError,  # 08xxx: connection failure/does not exist
    asyncpg.exceptions.InterfaceError,  # the connection is closed or being closed
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.OperatorInterventionError,  # 57Pxx: admin shutdown, crash, cancel
    asyncpg.exceptions.InsufficientResourcesError,  # 53xxx: too many connections, disk full
)
_CHAIN_LIMIT = 8


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver error SQLAlchemy wraps, and their causes (bounded)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < _CHAIN_LIMIT:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _is_outage_itself(error: BaseException) -> bool:
    if isinstance(error, PoolTimeout | Unavailable):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (OSError, TimeoutError, *ASYNCPG_OUTAGES)):
        return True  # ConnectionRefusedError, resets, DNS, connect timeouts
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return any(text in message for text in SQLITE_OUTAGE_MESSAGES)
    return False


def is_outage(error: BaseException) -> bool:
    """Whether `error` (or the driver error beneath it) means the database is not available."""
    return any(_is_outage_itself(cause) for cause in _causes(error))


def as_unavailable(error: BaseException) -> Unavailable | None:
    """The `Unavailable` an outage should answer with, or None when `error` is no outage."""
    if isinstance(error, Unavailable):
        return error
    return Unavailable(OUTAGE_RETRY_SECONDS) if is_outage(error) else None


@contextmanager
def outage_is_unavailable() -> Iterator[None]:
    """Turn a database outage inside the block into `Unavailable`; other errors pass unchanged."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as error:
        unavailable = as_unavailable(error)
        if unavailable is None:
            raise
        event = "database_pool_exhausted" if isinstance(error, PoolTimeout) else "database_outage"
        log.warning(event, error=type(error).__name__)
        raise unavailable from error
