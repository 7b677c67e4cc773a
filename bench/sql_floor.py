"""The SQL floors of W2 and W3: bare Starlette routes that fetch the same rows with raw SQL.

`GET /floor?user=<uuid>` reads the user's first 10 accounts, the newest 10 ledger lines of each
(one window-function statement, as LedgerQL does) and their cards, with asyncpg on PostgreSQL
or aiosqlite on SQLite (`FLOOR_DATABASE_URL`, a SQLAlchemy URL), and returns the same JSON as
the GraphQL dashboard; `GET /floor/transactions?account=<uuid>` W3's 100 newest lines of one
account. No authentication, no GraphQL, no ORM: the fastest the same data can be
served by this stack, so W2 and W3 are reported as a fraction of it.

    .venv/bin/python -m uvicorn bench.sql_floor:app --workers 2 --port 8100
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNTS = """
SELECT a.id, a.balance, a.currency FROM accounts a JOIN account_holders h ON h.id = a.holder_id
WHERE h.user_id = {0} ORDER BY a.created_at, a.id LIMIT 10
"""
LINES = """
SELECT account_id, amount, type, created_at FROM (
  SELECT t.account_id, t.amount, t.type, t.created_at,
         row_number() OVER (PARTITION BY t.account_id ORDER BY t.entry DESC) AS rank
  FROM transactions t WHERE t.account_id IN ({0})
) ranked WHERE rank <= 10 ORDER BY account_id, rank
"""
NEWEST = """
SELECT amount, type, created_at FROM transactions WHERE account_id = {0} ORDER BY entry DESC
LIMIT 100
"""
CARDS = "SELECT account_id, last4, status FROM cards WHERE account_id IN ({0}) ORDER BY created_at"


class Rows:
    """Raw SQL on either database, with the driver's own placeholders."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.url = parsed
        self.pool: asyncpg.Pool | None = None
        self.connections: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()

    async def open(self) -> None:
        """Open a pool (PostgreSQL) or four connections (SQLite)."""
        if self.sqlite:
            for _ in range(4):
                self.connections.put_nowait(await aiosqlite.connect(self.url.database or ""))
            return
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)

    async def close(self) -> None:
        """Close every connection."""
        if self.pool is not None:
            await self.pool.close()
        while not self.connections.empty():
            await self.connections.get_nowait().close()

    def key(self, raw: str) -> Any:
        """A UUID as the column stores it (32 hex digits on SQLite)."""
        value = uuid.UUID(raw)
        return value.hex if self.sqlite else value

    async def fetch(self, template: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """Rows of `template` with one placeholder per parameter."""
        if self.sqlite:
            sql = template.format(", ".join("?" * len(params)))
            connection = await self.connections.get()
            try:
                async with connection.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            finally:
                self.connections.put_nowait(connection)
        holders = ", ".join(f"${n}" for n in range(1, len(params) + 1))
        assert self.pool is not None
        return list(await self.pool.fetch(template.format(holders), *params))


rows = Rows(os.environ.get("FLOOR_DATABASE_URL", "sqlite+aiosqlite:///var/ledgerql.db"))


async def dashboard(request: Request) -> JSONResponse:
    """The dashboard's JSON for `?user=<uuid>`, from three raw statements."""
    accounts = await rows.fetch(ACCOUNTS, [rows.key(request.query_params["user"])])
    ids = [account[0] for account in accounts]
    lines: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    cards: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for account_id, amount, kind, created in await rows.fetch(LINES, ids):
            stamp = created if isinstance(created, str) else created.isoformat()
            node = {"amount": {"amount": amount}, "type": kind, "createdAt": stamp}
            lines[account_id].append({"node": node})
        for account_id, last4, status in await rows.fetch(CARDS, ids):
            cards[account_id].append({"last4": last4, "status": status})
    edges = [
        {
            "node": {
                "balance": {"amount": balance, "currency": currency},
                "transactions": {"edges": lines[account_id]},
                "cards": cards[account_id],
            }
        }
        for account_id, balance, currency in accounts
    ]
    return JSONResponse({"data": {"me": {"accounts": {"edges": edges}}}})


async def transactions(request: Request) -> JSONResponse:
    """W3's JSON for `?account=<uuid>`: the account's 100 newest ledger lines, one statement."""
    edges = []
    for amount, kind, created in await rows.fetch(
        NEWEST, [rows.key(request.query_params["account"])]
    ):
        stamp = created if isinstance(created, str) else created.isoformat()
        edges.append({"node": {"amount": {"amount": amount}, "type": kind, "createdAt": stamp}})
    return JSONResponse({"data": {"account": {"transactions": {"edges": edges}}}})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    """Open the connections for this worker."""
    await rows.open()
    yield
    await rows.close()


async def live(_: Request) -> JSONResponse:
    """Up and serving."""
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/floor", dashboard),
        Route("/floor/transactions", transactions),
        Route("/health/live", live),
    ],
    lifespan=lifespan,
)
