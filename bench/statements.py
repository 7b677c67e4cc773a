"""Round trips per operation, counted in-process against the seeded database.

The app is built exactly as `ledgerql serve` builds it (`graph.app.create_app` with the settings
the suite's environment gives) and one operation is sent through `httpx.ASGITransport` with the
lifespan running. Counted where they happen:

* SQL statements: SQLAlchemy's `before_cursor_execute` (every engine derived with
  `execution_options` shares the listener);
* BEGIN / COMMIT / ROLLBACK and pre-pings: at the driver, since they never pass a SQLAlchemy
  cursor on asyncpg and may be skipped on SQLite: asyncpg's query logger (transactions and
  `ping` go through `Connection.execute`/`fetchrow`) and sqlite3's trace callback (every
  statement SQLite runs), hooked on each new pooled connection.

A write is a statement with an INSERT, UPDATE or DELETE anywhere, or a `FOR UPDATE` lock,
whoever sends it (a group commit of audit rows included).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event
from sqlalchemy.util import await_only

# Work an operation leaves behind (a pooled connection's reset, a commit finishing in another
# task) is counted with it: the window closes this long after the response.
SETTLE_SECONDS = 0.5
TRANSACTION_WORDS = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK"})
# A write anywhere in the statement (`WITH ... AS (INSERT ...)` too), or a row lock taken for one.
WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|FOR\s+UPDATE)\b", re.I)


@dataclass
class Trips:
    """What one operation sent to the database."""

    statements: list[str] = field(default_factory=list)
    transaction_control: list[str] = field(default_factory=list)
    pings: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every round trip: statements, BEGIN/COMMIT/ROLLBACK and pre-pings."""
        return len(self.statements) + len(self.transaction_control) + self.pings

    @property
    def writes(self) -> list[str]:
        """The statements that write or lock rows for a write, shortened."""
        return [" ".join(s.split())[:60] for s in self.statements if WRITE.search(s)]

    def describe(self) -> str:
        """`N round trips (...)`, the writes if any, and the operation's errors if any."""
        text = (
            f"{self.total} round trips ({len(self.statements)} statements + "
            f"{len(self.transaction_control)} BEGIN/COMMIT/ROLLBACK + {self.pings} pre-pings)"
            f"; writes {len(self.writes)}"
        )
        if self.writes:
            text += f" ({'; '.join(sorted(set(self.writes)))})"
        if self.errors:
            text += f"; ANSWER ERRORS {self.errors}"
        return text


class Recorder:
    """Hooks an engine's statements and its connections' driver traffic into the active Trips."""

    def __init__(self, engine: Any) -> None:
        self.active: Trips | None = None
        event.listen(engine.sync_engine, "before_cursor_execute", self.on_statement)
        event.listen(engine.sync_engine, "connect", self.on_connect)

    def on_statement(self, *args: Any) -> None:
        """A statement SQLAlchemy sends (transaction words are counted at the driver)."""
        statement = str(args[2]).strip()
        word = statement.split(None, 1)[0].upper() if statement else ""
        if self.active is not None and word not in TRANSACTION_WORDS:
            self.active.statements.append(statement)

    def on_driver(self, sql: str) -> None:
        """A statement the driver ran: counted here if it is a transaction word or a ping."""
        if self.active is None:
            return
        text = sql.strip().rstrip(";").strip()
        word = text.split(None, 1)[0].upper() if text else ""
        if not text or text.upper() == "SELECT 1":
            self.active.pings += 1
        elif word in TRANSACTION_WORDS:
            self.active.transaction_control.append(word)

    def on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        """Hook a new pooled connection's driver (asyncpg query logger, sqlite3 trace)."""
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger"):
            driver.add_query_logger(lambda record: self.on_driver(record.query))
        elif hasattr(driver, "set_trace_callback"):
            await_only(driver.set_trace_callback(self.on_driver))

    @contextmanager
    def counting(self) -> Iterator[Trips]:
        """Count what the block sends."""
        self.active = trips = Trips()
        try:
            yield trips
        finally:
            self.active = None


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """`os.environ` replaced by `env` in the block (Settings reads the environment)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def round_trips(
    env: dict[str, str], operations: dict[str, tuple[str, dict[str, Any], dict[str, str]]]
) -> dict[str, Trips]:
    """Send each named operation (query, variables, headers) once; what each sent to the DB."""
    from core.settings import Settings  # noqa: PLC0415 - after sys.path is set by the suite
    from graph.app import create_app  # noqa: PLC0415

    with environment(env):
        settings = Settings(_env_file=None)
    app = create_app(settings)
    recorder = Recorder(app.state.database.engine)  # before the lifespan opens any connection
    results = {}
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, (query, variables, headers) in operations.items():
                with recorder.counting() as trips:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                    await asyncio.sleep(SETTLE_SECONDS)
                body = response.json()
                trips.errors = [e.get("message", "?") for e in body.get("errors") or []]
                if response.status_code != 200 or "data" not in body:
                    trips.errors.append(f"HTTP {response.status_code}")
                results[name] = trips
    return results
