"""PostGraphile v4, LedgerQL's peer in the suite: its process, its W2/W3 queries, the answer check.

PostGraphile runs from `bench/postgraphile/` (`npm ci` on first use, pinned by its lockfile)
with `--cluster-workers N` against the database the suite seeded, WITHOUT authentication: it
answers whoever asks, which spares it the token check and the per-user filtering LedgerQL does
(this favours it; the suite says so). Its flags are all in `POSTGRAPHILE_FLAGS`.

Its queries return the same rows and fields as LedgerQL's: W2 a user's first 10 accounts oldest
first (created_at, id), each with balance/currency, its 10 newest ledger lines (entry descending)
with amount/type/createdAt, and its cards (created_at, id) with last4/status; W3 one account's 100
newest ledger lines. `check_answers` compares both servers' answers for every demo user once.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.common import DemoUser

PEER_DIR = Path(__file__).resolve().parent / "postgraphile"
NO_AUTH_NOTE = "PostGraphile runs without authentication (no token check, no per-user filter)"

# Every PostGraphile flag the suite uses, in one place (`--port` is added by bench.common.serving).
POSTGRAPHILE_FLAGS = [
    "--schema", "public",
    "--host", "127.0.0.1",
    "--disable-default-mutations",
    "--no-setof-functions-contain-nulls",
    "--disable-query-log",
    "--disable-graphiql",
    "--max-pool-size", "10",
]  # fmt: skip

PEER_W2 = """query($holder: UUID!) { accountHolderById(id: $holder) {
  accountsByHolderId(first: 10, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes {
    balance currency
    transactionsByAccountId(first: 10, orderBy: ENTRY_DESC) { nodes { amount type createdAt } }
    cardsByAccountId(orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { last4 status } } } } } }"""
PEER_W3 = """query($account: UUID!) { accountById(id: $account) {
  transactionsByAccountId(first: 100, orderBy: ENTRY_DESC) {
    nodes { amount type createdAt } } } }"""


def install() -> None:
    """`npm ci` PostGraphile from its lockfile unless it is there already."""
    if not (PEER_DIR / "node_modules" / ".bin" / "postgraphile").exists():
        subprocess.run(  # noqa: S603 - fixed argv
            ["npm", "ci", "--prefix", str(PEER_DIR), "--no-audit", "--no-fund",  # noqa: S607
             "--loglevel=error"],
            check=True,
        )  # fmt: skip


def postgraphile_argv(database_url: str, workers: int) -> list[str]:
    """The argv of PostGraphile on `database_url` (a SQLAlchemy URL) with `workers` workers."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    binary = str(PEER_DIR / "node_modules" / ".bin" / "postgraphile")
    return [binary, "--connection", dsn, *POSTGRAPHILE_FLAGS, "--cluster-workers", str(workers)]


def uuid_of(global_id: str) -> str:
    """The UUID inside a LedgerQL global id."""
    return base64.b64decode(global_id).decode().partition(":")[2]


async def holders_of(database_url: str, users: list[DemoUser]) -> dict[str, str]:
    """Each user's one account holder id (PostGraphile is asked by holder: it has no `me`)."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        holders = {}
        for user in users:
            rows = await connection.fetch(
                "SELECT id FROM account_holders WHERE user_id = $1", uuid.UUID(user.user_uuid)
            )
            if len(rows) != 1:
                raise SystemExit(f"{user.username} has {len(rows)} account holders, expected 1")
            holders[user.username] = str(rows[0]["id"])
        return holders
    finally:
        await connection.close()


def _line(node: dict[str, Any]) -> tuple[int, str, datetime]:
    amount = node["amount"]["amount"] if isinstance(node["amount"], dict) else node["amount"]
    stamp = datetime.fromisoformat(node["createdAt"].replace("Z", "+00:00"))
    return int(amount), str(node["type"]).lower(), stamp


def ledgerql_dashboard(body: dict[str, Any]) -> list[Any]:
    """LedgerQL's W2 answer reduced to comparable values."""
    return [
        (
            int(node["balance"]["amount"]), node["balance"]["currency"],
            [_line(e["node"]) for e in node["transactions"]["edges"]],
            [(c["last4"], str(c["status"]).lower()) for c in node["cards"]],
        )
        for node in (edge["node"] for edge in body["data"]["me"]["accounts"]["edges"])
    ]  # fmt: skip


def peer_dashboard(body: dict[str, Any]) -> list[Any]:
    """PostGraphile's W2 answer reduced to the same values."""
    return [
        (
            int(node["balance"]), node["currency"],
            [_line(n) for n in node["transactionsByAccountId"]["nodes"]],
            [(c["last4"], str(c["status"]).lower()) for c in node["cardsByAccountId"]["nodes"]],
        )
        for node in body["data"]["accountHolderById"]["accountsByHolderId"]["nodes"]
    ]  # fmt: skip


async def _post(base: str, query: str, variables: dict[str, Any], headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(
            base + "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return response.json()


async def check_answers(
    ledgerql_base: str, peer_base: str, users: list[DemoUser], holders: dict[str, str], *,
    w2: str, w3: str,
) -> list[str]:  # fmt: skip
    """Compare both servers' W2 and W3 answers for every user; the mismatches (empty: equal)."""
    mismatches = []
    plain = {"content-type": "application/json"}
    for user in users:
        try:
            ours = ledgerql_dashboard(await _post(ledgerql_base, w2, {}, user.headers))
            body = await _post(peer_base, PEER_W2, {"holder": holders[user.username]}, plain)
            theirs = peer_dashboard(body)
        except (KeyError, TypeError, ValueError) as error:
            mismatches.append(f"W2 {user.username}: unreadable answer ({error!r})")
            continue
        if ours != theirs:
            mismatches.append(f"W2 {user.username}: LedgerQL {ours!r:.300} != PostGraphile "
                              f"{theirs!r:.300}")  # fmt: skip
        try:
            body = await _post(ledgerql_base, w3, {"id": user.accounts[0]}, user.headers)
            ours_w3 = [_line(e["node"]) for e in body["data"]["account"]["transactions"]["edges"]]
            body = await _post(peer_base, PEER_W3, {"account": uuid_of(user.accounts[0])}, plain)
            nodes = body["data"]["accountById"]["transactionsByAccountId"]["nodes"]
            theirs_w3 = [_line(n) for n in nodes]
        except (KeyError, TypeError, ValueError) as error:
            mismatches.append(f"W3 {user.username}: unreadable answer ({error!r})")
            continue
        if ours_w3 != theirs_w3:
            mismatches.append(f"W3 {user.username}: {len(ours_w3)} lines from LedgerQL, "
                              f"{len(theirs_w3)} from PostGraphile, or values differ")  # fmt: skip
    return mismatches
