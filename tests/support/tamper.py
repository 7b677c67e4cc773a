"""What an insider with the application's own database role does to hide a change.

Everything here runs raw SQL behind the application's back, as the role the app connects with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.settings import Settings
from db.audit.chain import chain_hash, keyed_hash
from db.audit.keys import AuditKeys
from db.session import Database
from graph.cli import build_parser
from tests.support.audit import audit_rows, execute_raw
from tests.support.identity import gql

CHAIN_FIELDS = "valid checkedEntries firstBrokenSequence headHash legacyEntries"
AUDIT_CHAIN = f"query Chain {{ auditChain {{ {CHAIN_FIELDS} }} }}"
LEDGER_CHECK = """
query LedgerCheck {
  ledgerCheck {
    valid checkedAccounts checkedTransfers
    problems { kind accountId transferId expected found }
    auditChain { valid checkedEntries firstBrokenSequence headHash legacyEntries }
    checkpoint { sequence hash timestamp keyId matches problem }
  }
}
"""
SQLITE_TRIGGERS = {
    "audit_logs": ["audit_logs_no_update", "audit_logs_no_delete"],
    "transactions": ["transactions_no_update", "transactions_no_delete"],
}
Hasher = Callable[[str, dict[str, Any]], str]


async def disable_triggers(database: Database, table: str) -> None:
    """PostgreSQL: ALTER TABLE ... DISABLE TRIGGER (the owner may); SQLite: drop them."""
    if database.dialect == "postgresql":
        await execute_raw(database, f"ALTER TABLE {table} DISABLE TRIGGER USER")
        return
    for trigger in SQLITE_TRIGGERS[table]:
        await execute_raw(database, f"DROP TRIGGER {trigger}")


def plain_sha256(row_key_id: str | None) -> Hasher:
    """The unkeyed rule of old, keeping (or setting) the rows' key id."""

    def hasher(previous: str, row: dict[str, Any]) -> str:
        row["key_id"] = row_key_id
        return chain_hash(previous, row)

    return hasher


def with_key(keys: AuditKeys) -> Hasher:
    """The real rule with the real key: what an insider who also holds the key computes."""

    def hasher(previous: str, row: dict[str, Any]) -> str:
        row["key_id"] = keys.current_id
        hashed = keyed_hash(keys, keys.current_id, previous, row)
        assert hashed is not None
        return hashed

    return hasher


async def rewrite_and_rehash(
    database: Database, sequence: int, description: str, hasher: Hasher
) -> None:
    """Change one row's description, recompute every later hash and move the chain head."""
    await disable_triggers(database, "audit_logs")
    rows = await audit_rows(database)
    previous = rows[sequence - 2]["hash"] if sequence > 1 else "0" * 64
    for row in rows[sequence - 1 :]:
        if row["sequence"] == sequence:
            row["description"] = description
        row["previous_hash"] = previous
        row["hash"] = previous = hasher(previous, row)
        await execute_raw(
            database,
            "UPDATE audit_logs SET description = :d, previous_hash = :p, hash = :h, key_id = :k "
            "WHERE sequence = :s",
            d=row["description"], p=row["previous_hash"], h=row["hash"], k=row["key_id"],
            s=row["sequence"],
        )  # fmt: skip
    await execute_raw(
        database, "UPDATE audit_chain_head SET sequence = :s, hash = :h",
        s=rows[-1]["sequence"], h=previous,
    )  # fmt: skip


async def audit_chain(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The `auditChain` verdict, with `legacyEntries` (asserting no error)."""
    body = await gql(client, AUDIT_CHAIN, token=token)
    assert "errors" not in body, body
    status: dict[str, Any] = body["data"]["auditChain"]
    return status


async def ledger_check(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The `ledgerCheck` verdict (asserting no error)."""
    body = await gql(client, LEDGER_CHECK, token=token)
    assert "errors" not in body, body
    verdict: dict[str, Any] = body["data"]["ledgerCheck"]
    return verdict


async def run_command(
    capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str
) -> tuple[int, str]:
    """Run a `ledgerql` subcommand in-process (in a thread: it runs its own event loop)."""
    args: argparse.Namespace = build_parser().parse_args(list(argv))
    capsys.readouterr()
    code = await asyncio.to_thread(args.handler, args, settings)
    return int(code), capsys.readouterr().out


async def verify_json(
    capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str
) -> tuple[int, dict[str, Any]]:
    """`ledgerql verify --json [argv]`: its exit code and report."""
    code, out = await run_command(capsys, settings, "verify", "--json", *argv)
    report: dict[str, Any] = json.loads(out)
    return code, report


def metric(text_format: str, name: str) -> float:
    """The value of an unlabelled metric in Prometheus text format."""
    for line in text_format.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    """One value read behind the application's back."""
    async with database.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()
