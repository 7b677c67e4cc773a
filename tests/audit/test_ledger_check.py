"""`ledgerCheck`, `ledgerql verify` and the ledger-check metric catch rewritten money.

The tampering runs as raw SQL with the application's own database role; every test runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.session import Database
from tests.conftest import make_settings
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import execute_raw
from tests.support.identity import gql, signed_in, signed_in_with_role
from tests.support.money import create_holder, move, open_account, transfer
from tests.support.tamper import (
    LEDGER_CHECK,
    disable_triggers,
    ledger_check,
    metric,
    run_command,
    verify_json,
)


@dataclass(frozen=True)
class Ledger:
    """An auditor's token, Bob's two accounts and his one transfer (global ids)."""

    auditor: str
    checking: str
    savings: str
    transfer: str


def raw_id(global_id: str) -> str:
    """The UUID behind a global id, as the CLI prints it."""
    return str(uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1]))


async def bobs_ledger(client: httpx.AsyncClient, database: Database) -> Ledger:
    """Checking: +10000, +2500, -500, -3000 (to savings) = 9000; savings: +3000."""
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    bob = await signed_in(client, "bob")
    await create_holder(client, bob)
    checking = await open_account(client, bob)
    savings = await open_account(client, bob, kind="SAVINGS")
    for name, amount in (("deposit", 10_000), ("deposit", 2_500), ("withdraw", 500)):
        assert (await move(client, bob, name, checking, amount))["errors"] == []
    moved = await transfer(client, bob, checking, savings, 3_000)
    assert moved["errors"] == [], moved
    return Ledger(auditor.access_token, checking, savings, moved["transfer"]["id"])


def problem(kind: str, expected: str, found: str, **subject: str) -> dict[str, Any]:
    """A `LedgerProblem` as the API returns it."""
    account, transfer_id = subject.get("account"), subject.get("transfer")
    return {"kind": kind, "accountId": account, "transferId": transfer_id,
            "expected": expected, "found": found}  # fmt: skip


def by_subject(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems in a backend-independent order."""
    return sorted(problems, key=lambda p: (p["kind"], p["accountId"] or "", p["transferId"] or ""))


async def test_an_untouched_ledger_is_valid_everywhere(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ledger = await bobs_ledger(client, database)
    verdict = await ledger_check(client, ledger.auditor)
    assert {key: verdict[key] for key in verdict if key != "auditChain"} == {
        "valid": True, "checkedAccounts": 2, "checkedTransfers": 1, "problems": [],
        "checkpoint": None,
    }  # fmt: skip
    assert verdict["auditChain"]["valid"] is True
    metrics = (await client.get("/metrics")).text
    assert metric(metrics, "ledgerql_ledger_check_problems") == 0
    assert 'ledgerql_ledger_checks_total{outcome="valid"} 1.0' in metrics
    settings = make_settings(database_url, tmp_path)
    code, out = await run_command(capsys, settings, "verify")
    assert code == 0
    assert out.splitlines() == [
        "accounts checked: 2", "transfers checked: 1",
        f"audit chain: {verdict['auditChain']['checkedEntries'] + 1} entries, valid",
        "checkpoint: none (set AUDIT_CHECKPOINT_FILE or pass --checkpoint)", "ledger OK",
    ]  # fmt: skip


async def test_an_inflated_balance_is_reported_for_every_account(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ledger = await bobs_ledger(client, database)
    await execute_raw(database, "UPDATE accounts SET balance = balance + 100000000")
    verdict = await ledger_check(client, ledger.auditor)
    assert (verdict["valid"], verdict["checkedAccounts"], verdict["checkedTransfers"]) == (
        False, 2, 1
    )  # fmt: skip
    assert verdict["auditChain"]["valid"] is True  # the audit trail itself was not touched
    expected = [
        problem("BALANCE_MISMATCH", "9000", "100009000", account=ledger.checking),
        problem("BALANCE_AFTER_MISMATCH", "9000", "100009000", account=ledger.checking),
        problem("BALANCE_MISMATCH", "3000", "100003000", account=ledger.savings),
        problem("BALANCE_AFTER_MISMATCH", "3000", "100003000", account=ledger.savings),
    ]
    assert by_subject(verdict["problems"]) == by_subject(expected)
    metrics = (await client.get("/metrics")).text
    assert metric(metrics, "ledgerql_ledger_check_problems") == 4
    assert 'ledgerql_ledger_checks_total{outcome="invalid"} 1.0' in metrics

    settings = make_settings(database_url, tmp_path)
    code, report = await verify_json(capsys, settings)
    assert (code, report["valid"], len(report["problems"])) == (1, False, 4)
    assert {(p["kind"], p["accountId"]) for p in report["problems"]} == {
        (kind, raw_id(account))
        for kind in ("BALANCE_MISMATCH", "BALANCE_AFTER_MISMATCH")
        for account in (ledger.checking, ledger.savings)
    }
    code, out = await run_command(capsys, settings, "verify")
    assert code == 1
    assert (
        f"PROBLEM BALANCE_MISMATCH account {raw_id(ledger.checking)}: expected 9000, "
        "found 100009000"
    ) in out.splitlines()
    assert out.splitlines()[-1] == "ledger INVALID: 4 problems"


async def test_a_rewritten_transfer_leg_is_reported(
    client: httpx.AsyncClient, database: Database
) -> None:
    ledger = await bobs_ledger(client, database)
    await disable_triggers(database, "transactions")
    await execute_raw(
        database, "UPDATE transactions SET amount = 1000 WHERE type = 'TRANSFER_IN'"
    )  # the savings account's only line: the credit no longer matches the debit
    verdict = await ledger_check(client, ledger.auditor)
    assert verdict["valid"] is False
    assert by_subject(verdict["problems"]) == by_subject([
        problem("BALANCE_MISMATCH", "1000", "3000", account=ledger.savings),
        problem("LINE_BALANCE_MISMATCH", "entry 1: 1000", "entry 1: 3000",
                account=ledger.savings),
        problem("TRANSFER_UNBALANCED", "2 legs: out 3000 USD, in 3000 USD",
                "2 legs: out 3000, in 1000", transfer=ledger.transfer),
    ])  # fmt: skip


async def test_a_deleted_ledger_line_is_reported_as_a_gap(
    client: httpx.AsyncClient, database: Database
) -> None:
    ledger = await bobs_ledger(client, database)
    await disable_triggers(database, "transactions")
    await execute_raw(database, "DELETE FROM transactions WHERE type = 'WITHDRAWAL'")
    verdict = await ledger_check(client, ledger.auditor)
    assert by_subject(verdict["problems"]) == by_subject([
        problem("BALANCE_MISMATCH", "9500", "9000", account=ledger.checking),
        problem("ENTRY_GAP", "entries 1..4", "3 lines, entries 1..4", account=ledger.checking),
        problem("LINE_BALANCE_MISMATCH", "entry 4: 9500", "entry 4: 9000",
                account=ledger.checking),
    ])  # fmt: skip


async def test_ledger_check_needs_audit_read(client: httpx.AsyncClient, database: Database) -> None:
    await bobs_ledger(client, database)
    alice = await signed_in(client, "alice")
    body = await gql(client, LEDGER_CHECK, token=alice.access_token)
    assert_top_level(body, "FORBIDDEN", 403)
    assert body["data"] is None
    metrics = (await client.get("/metrics")).text
    assert "ledgerql_ledger_checks_total{" not in metrics
