"""The ledger check: every balance, transfer and ledger line adds up, and the audit chain holds.

Runs inside one read snapshot: the aggregate checks of `db.repositories.ledger_check`, the
keyed verification of the whole audit chain, and, when a checkpoint is given, the check that
the chain still carries the checkpoint's hash at its sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import chain, checkpoints
from db.audit.chain import ChainStatus
from db.audit.checkpoints import Checkpoint, CheckpointError
from db.audit.keys import AuditKeys
from db.repositories import ledger_check as repo
from db.repositories.ledger_check import Finding, ProblemKind


@dataclass(frozen=True, slots=True)
class CheckpointVerdict:
    """The checkpoint the chain was checked against and whether the chain still agrees."""

    checkpoint: Checkpoint | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """Everything one ledger check found."""

    checked_accounts: int
    checked_transfers: int
    problems: list[Finding]
    chain: ChainStatus
    checkpoint: CheckpointVerdict | None

    @property
    def valid(self) -> bool:
        """Whether nothing at all was found."""
        return not self.problems


def load_checkpoint(path: Path | None) -> CheckpointVerdict | None:
    """The latest checkpoint of a checkpoint file; a verdict with the reason when unreadable.

    A configured file that is missing or empty is a problem too: whoever can delete it must
    not thereby turn the check off.
    """
    if path is None:
        return None
    try:
        return CheckpointVerdict(checkpoints.latest(path), None)
    except CheckpointError as error:
        return CheckpointVerdict(None, str(error))


async def check_ledger(
    session: AsyncSession, keys: AuditKeys, checkpoint: CheckpointVerdict | None = None
) -> LedgerReport:
    """Run every check; `checkpoint` (when given) is the latest published checkpoint."""
    accounts, transfers = await repo.counts(session)
    problems = [
        *await repo.account_findings(session),
        *await repo.running_balance_findings(session),
        *await repo.transfer_findings(session),
    ]
    status = await chain.verify(session, keys)
    if not status.valid:
        problems.append(_chain_problem(status))
    if checkpoint is not None and checkpoint.checkpoint is not None:
        problem = await checkpoints.mismatch(session, keys, checkpoint.checkpoint)
        checkpoint = CheckpointVerdict(checkpoint.checkpoint, problem)
    if checkpoint is not None and checkpoint.problem is not None:
        problems.append(_checkpoint_problem(checkpoint.checkpoint, checkpoint.problem))
    return LedgerReport(accounts, transfers, problems, status, checkpoint)


def _chain_problem(status: ChainStatus) -> Finding:
    found = f"broken at sequence {status.first_broken_sequence}"
    return Finding(ProblemKind.AUDIT_CHAIN_BROKEN, None, None, "an intact chain", found)


def _checkpoint_problem(checkpoint: Checkpoint | None, problem: str) -> Finding:
    expected = (
        f"row {checkpoint.sequence} carries {checkpoint.hash}"
        if checkpoint is not None
        else "a readable checkpoint"
    )
    return Finding(ProblemKind.CHECKPOINT_MISMATCH, None, None, expected, problem)
