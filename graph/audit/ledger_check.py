"""The `ledgerCheck` query: balances, transfers and ledger lines add up, the audit chain holds."""

from __future__ import annotations

import asyncio

import strawberry
from strawberry import relay

from auth.permissions import Permission
from db.repositories.ledger_check import Finding, ProblemKind
from db.services.ledger_check import CheckpointVerdict, LedgerReport, check_ledger, load_checkpoint
from graph.audit.types import AuditChainStatus
from graph.common.info import Info
from graph.permissions import HasPermission
from graph.scalars import Long

LedgerProblemKindEnum = strawberry.enum(
    ProblemKind, name="LedgerProblemKind", description="What kind of thing does not add up."
)


@strawberry.type(description="One thing in the ledger or the audit trail that does not add up.")
class LedgerProblem:
    """A finding of the ledger check."""

    kind: LedgerProblemKindEnum  # type: ignore[valid-type]
    account_id: relay.GlobalID | None = strawberry.field(description="The account concerned.")
    transfer_id: relay.GlobalID | None = strawberry.field(description="The transfer concerned.")
    expected: str = strawberry.field(description="What the other records say it should be.")
    found: str = strawberry.field(description="What is stored.")

    @classmethod
    def from_finding(cls, finding: Finding) -> LedgerProblem:
        """The GraphQL view of a finding."""
        account = finding.account_id
        transfer = finding.transfer_id
        return cls(
            kind=finding.kind,
            account_id=relay.GlobalID("Account", str(account)) if account else None,
            transfer_id=relay.GlobalID("Transfer", str(transfer)) if transfer else None,
            expected=finding.expected,
            found=finding.found,
        )


@strawberry.type(description="The signed checkpoint the audit chain was checked against.")
class AuditCheckpointStatus:
    """The latest checkpoint of AUDIT_CHECKPOINT_FILE and whether the chain still agrees."""

    sequence: Long | None = strawberry.field(description="The checkpoint's sequence.")
    hash: str | None = strawberry.field(description="The hash that row carried.")
    timestamp: str | None = strawberry.field(description="When the checkpoint was taken.")
    key_id: str | None = strawberry.field(description="The id of the key that signed it.")
    matches: bool = strawberry.field(description="Signature valid and the row still carries it.")
    problem: str | None = strawberry.field(description="Why it does not match.")

    @classmethod
    def from_verdict(cls, verdict: CheckpointVerdict) -> AuditCheckpointStatus:
        """The GraphQL view of a checkpoint verdict."""
        point = verdict.checkpoint
        return cls(
            sequence=Long(point.sequence) if point else None,
            hash=point.hash if point else None,
            timestamp=point.timestamp if point else None,
            key_id=point.key_id if point else None,
            matches=verdict.problem is None,
            problem=verdict.problem,
        )


@strawberry.type(description="The outcome of a ledger check.")
class LedgerCheck:
    """Whether the ledger and the audit trail hold, and every problem found."""

    valid: bool
    checked_accounts: int
    checked_transfers: int
    problems: list[LedgerProblem] = strawberry.field(
        description="What does not add up: at most 100 of each kind of ledger problem."
    )
    audit_chain: AuditChainStatus
    checkpoint: AuditCheckpointStatus | None = strawberry.field(
        description="The latest checkpoint of AUDIT_CHECKPOINT_FILE; null when none is set."
    )

    @classmethod
    def from_report(cls, report: LedgerReport) -> LedgerCheck:
        """The GraphQL view of a ledger report."""
        verdict = report.checkpoint
        return cls(
            valid=report.valid,
            checked_accounts=report.checked_accounts,
            checked_transfers=report.checked_transfers,
            problems=[LedgerProblem.from_finding(finding) for finding in report.problems],
            audit_chain=AuditChainStatus.from_status(report.chain),
            checkpoint=AuditCheckpointStatus.from_verdict(verdict) if verdict else None,
        )


@strawberry.type
class LedgerCheckQueries:
    """The ledger check field of the query root."""

    @strawberry.field(
        permission_classes=[HasPermission(Permission.AUDIT_READ)],
        description=(
            "Check that every balance, transfer and ledger line adds up and that the audit "
            "chain verifies with the key and against the latest checkpoint."
        ),
    )
    async def ledger_check(self, info: Info) -> LedgerCheck:
        """Aggregate statements within one snapshot, then the whole audit chain."""
        path = info.context.settings.audit_checkpoint_file
        verdict = await asyncio.to_thread(load_checkpoint, path)
        keys = info.context.database.audit_keys
        report = await info.context.uow.query(check_ledger, keys, verdict)
        info.context.metrics.observe_ledger_check(len(report.problems))
        info.context.audit_read("LedgerCheck", None, valid=report.valid)
        return LedgerCheck.from_report(report)
