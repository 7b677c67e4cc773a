"""Round trips per operation, counted in-process against the seeded database.

The app is built exactly as `ledgerql serve` builds it (`graph.app.create_app` with the settings
the suite's environment gives) and one operation is sent through `httpx.ASGITransport` with the
lifespan running. Counted on the engine (SQLAlchemy events, which every engine derived with
`execution_options` shares): every statement sent through a cursor, every BEGIN / COMMIT /
ROLLBACK (engine transaction events: asyncpg and aiosqlite open transactions outside the cursor),
and one pre-ping per pool checkout when the pool pre-pings. Writes are the statements with an
INSERT, UPDATE or DELETE anywhere, or a `FOR UPDATE` lock, whoever runs them (a group commit of
audit rows included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event

TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})
# A write anywhere in the statement (`WITH ... AS (INSERT ...)` too), or a row lock taken for one.
WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|FOR\s+UPDATE)\b", re.I)


@dataclass
class Trips:
    """What one operation sent to the database."""

    statements: list[str] = field(default_factory=list)
    transaction_control: list[str] = field(default_factory=list)
    checkouts: int = 0
    pre_ping: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def pre_pings(self) -> int:
        """Pings sent before handing a pooled connection out."""
        return self.checkouts if self.pre_ping else 0

    @property
    def total(self) -> int:
        """Every round trip: statements, BEGIN/COMMIT/ROLLBACK and pre-pings."""
        return len(self.statements) + len(self.transaction_control) + self.pre_pings

    @property
    def writes(self) -> list[str]:
        """The statements that write or lock rows for a write, shortened."""
        return [" ".join(s.split())[:60] for s in self.statements if WRITE.search(s)]

    def describe(self) -> str:
        """`N round trips (...)`, the writes if any, and the operation's errors if any."""
        text = (
            f"{self.total} round trips ({len(self.statements)} statements + "
            f"{len(self.transaction_control)} BEGIN/COMMIT/ROLLBACK + {self.pre_pings} pre-pings)"
            f"; writes {len(self.writes)}"
        )
        if self.writes:
            text += f" ({'; '.join(sorted(set(self.writes)))})"
        if self.errors:
            text += f"; ANSWER ERRORS {self.errors}"
        return text


@contextmanager
def counting(engine: Any) -> Iterator[Trips]:
    """Count what `engine` (an AsyncEngine) sends in the block."""
    trips = Trips(pre_ping=bool(getattr(engine.sync_engine.pool, "_pre_ping", False)))
    sync = engine.sync_engine

    def on_statement(*args: Any) -> None:
        statement = str(args[2]).strip()
        if statement.split(None, 1)[0].upper() not in TRANSACTION_WORDS:
            trips.statements.append(statement)

    def on_begin(*_: Any) -> None:
        trips.transaction_control.append("BEGIN")

    def on_commit(*_: Any) -> None:
        trips.transaction_control.append("COMMIT")

    def on_rollback(*_: Any) -> None:
        trips.transaction_control.append("ROLLBACK")

    def on_checkout(*_: Any) -> None:
        trips.checkouts += 1

    listeners = [(sync, "before_cursor_execute", on_statement), (sync, "begin", on_begin),
                 (sync, "commit", on_commit), (sync, "rollback", on_rollback),
                 (sync.pool, "checkout", on_checkout)]  # fmt: skip
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield trips
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


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
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    results = {}
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            engine = app.state.database.engine
            for name, (query, variables, headers) in operations.items():
                with counting(engine) as trips:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                body = response.json()
                trips.errors = [e.get("message", "?") for e in body.get("errors") or []]
                if response.status_code != 200 or "data" not in body:
                    trips.errors.append(f"HTTP {response.status_code}")
                results[name] = trips
    return results
