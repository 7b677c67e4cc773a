"""The `ledgerql audit-checkpoint` and `ledgerql verify` commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from core.logging import get_logger
from core.settings import Settings
from db.audit import checkpoints
from db.audit.checkpoints import Checkpoint
from db.migrations import is_at_head
from db.services.ledger_check import LedgerReport, check_ledger, load_checkpoint
from db.session import Database

log = get_logger("ledgerql.audit")
NOT_MIGRATED = 2
"""Exit code when the database is not at the latest migration (nothing to check yet)."""


class NotMigrated(RuntimeError):
    """The database lacks the latest migration; the check would fail on missing columns."""


async def _migrated(database: Database) -> Database:
    if not await is_at_head(database.engine):
        await database.dispose()
        msg = "the database is not at the latest migration: run `ledgerql migrate` first"
        raise NotMigrated(msg)
    return database


async def _take_checkpoint(settings: Settings) -> Checkpoint:
    database = await _migrated(Database(settings))
    try:
        async with database.unit_of_work() as uow:
            return await uow.query(checkpoints.take, database.audit_keys)
    finally:
        await database.dispose()


def cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    """Print (and log, and append to a file) a signed checkpoint of the audit chain's head."""
    try:
        checkpoint = asyncio.run(_take_checkpoint(settings))
    except NotMigrated as error:
        print(f"ledgerql: {error}", file=sys.stderr)
        return NOT_MIGRATED
    target = Path(args.output) if args.output else settings.audit_checkpoint_file
    checkpoints.publish(checkpoint, target)
    print(checkpoint.to_json())
    return 0


async def _check(settings: Settings, checkpoint_file: Path | None) -> LedgerReport:
    verdict = load_checkpoint(checkpoint_file)
    database = await _migrated(Database(settings))
    try:
        async with database.unit_of_work() as uow:
            return await uow.query(check_ledger, database.audit_keys, verdict)
    finally:
        await database.dispose()


def report_document(report: LedgerReport) -> dict[str, Any]:
    """A ledger report as a JSON document (the shape of the `ledgerCheck` query)."""
    verdict, status = report.checkpoint, report.chain
    point = verdict.checkpoint if verdict else None
    return {
        "valid": report.valid,
        "checkedAccounts": report.checked_accounts,
        "checkedTransfers": report.checked_transfers,
        "problems": [
            {
                "kind": str(problem.kind),
                "accountId": str(problem.account_id) if problem.account_id else None,
                "transferId": str(problem.transfer_id) if problem.transfer_id else None,
                "expected": problem.expected,
                "found": problem.found,
            }
            for problem in report.problems
        ],
        "auditChain": {
            "valid": status.valid,
            "checkedEntries": status.checked_entries,
            "firstBrokenSequence": status.first_broken_sequence,
            "headHash": status.head_hash,
            "legacyEntries": status.legacy_entries,
        },
        "checkpoint": None
        if verdict is None
        else {
            **(point.as_dict() if point else {}),
            "matches": verdict.problem is None,
            "problem": verdict.problem,
        },
    }


def _readable(report: LedgerReport) -> list[str]:
    status, verdict = report.chain, report.checkpoint
    lines = [
        f"accounts checked: {report.checked_accounts}",
        f"transfers checked: {report.checked_transfers}",
        f"audit chain: {status.checked_entries} entries, "
        + ("valid" if status.valid else f"BROKEN at sequence {status.first_broken_sequence}"),
    ]
    if verdict is None:
        lines.append("checkpoint: none (set AUDIT_CHECKPOINT_FILE or pass --checkpoint)")
    elif verdict.problem is None and verdict.checkpoint is not None:
        point = verdict.checkpoint
        lines.append(f"checkpoint: sequence {point.sequence} of {point.timestamp} matches")
    for problem in report.problems:
        subject = (
            f"account {problem.account_id}"
            if problem.account_id
            else f"transfer {problem.transfer_id}"
            if problem.transfer_id
            else "audit trail"
        )
        lines.append(
            f"PROBLEM {problem.kind} {subject}: expected {problem.expected}, found {problem.found}"
        )
    lines.append(
        "ledger OK" if report.valid else f"ledger INVALID: {len(report.problems)} problems"
    )
    return lines


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check balances, transfers, ledger lines and the audit chain; exit 1 on any problem."""
    checkpoint_file = Path(args.checkpoint) if args.checkpoint else settings.audit_checkpoint_file
    try:
        report = asyncio.run(_check(settings, checkpoint_file))
    except NotMigrated as error:
        print(f"ledgerql: {error}", file=sys.stderr)
        return NOT_MIGRATED
    log.info("ledger_checked", valid=report.valid, problems=len(report.problems))
    if args.json:
        print(json.dumps(report_document(report)))
    else:
        print("\n".join(_readable(report)))
    return 0 if report.valid else 1


def add_commands(commands: Any) -> None:
    """Register `audit-checkpoint` and `verify` with the `ledgerql` parser."""
    checkpoint = commands.add_parser(
        "audit-checkpoint",
        help="print a signed checkpoint of the audit chain's head (publish it outside the DB)",
    )
    checkpoint.add_argument(
        "--output", default=None, help="append it to this file (default: AUDIT_CHECKPOINT_FILE)"
    )
    checkpoint.set_defaults(handler=cmd_audit_checkpoint)
    verify = commands.add_parser(
        "verify", help="check balances, transfers and the audit chain; exit 1 on any problem"
    )
    verify.add_argument(
        "--checkpoint",
        default=None,
        help="file of checkpoints to verify against (default: AUDIT_CHECKPOINT_FILE)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=cmd_verify)
