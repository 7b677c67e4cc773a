"""The hash chain: appending entries under a short lock, and verifying the stored chain.

Each row's hash is HMAC-SHA256, under the key named by the row's `key_id`, over the previous
row's hash, the key id and a canonical JSON serialization of the row, so altering, deleting or
inserting a row breaks the chain at that row, and recomputing the hashes needs the key, which
never enters the database. Rows written before keys existed (`key_id` NULL) keep their plain
SHA-256 hash; they may only form the start of the chain, never follow a keyed row. The chain's tip
lives in `audit_chain_head`; a writer locks that one row only while it appends, as the last
step before COMMIT, so business work of concurrent transactions still runs in parallel.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit.entries import AuditContext, AuditEntry, json_safe
from db.audit.keys import AuditKeys
from db.base import utcnow
from db.models.audit import GENESIS_HASH
from db.repositories import audit as repo

VERIFY_BATCH = 2000
HASHED_FIELDS = (
    "sequence", "id", "user_id", "action", "entity_type", "entity_id", "old_values",
    "new_values", "description", "ip_address", "user_agent", "status", "error_message",
    "request_id", "created_at", "extra",
)  # fmt: skip


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The bytes a row's hash covers: its fields as sorted, compact JSON."""
    document = {name: json_safe(row[name]) for name in HASHED_FIELDS}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous_hash: str, row: Mapping[Any, Any]) -> str:
    """The unkeyed (legacy) hash of a row given the hash of the row before it."""
    return hashlib.sha256(previous_hash.encode() + b"\n" + canonical(row)).hexdigest()


def keyed_hash(keys: AuditKeys, kid: str, previous_hash: str, row: Mapping[Any, Any]) -> str | None:
    """HMAC-SHA256 of a row under the key `kid`; None when that key is not configured."""
    return keys.mac(kid, _message(kid, previous_hash, row))


def expected_hash(keys: AuditKeys, previous_hash: str, row: Mapping[Any, Any]) -> str | None:
    """What a stored row's hash must be: keyed by its `key_id`, or legacy SHA-256 without one."""
    kid = row["key_id"]
    if kid is None:
        return chain_hash(previous_hash, row)
    return keyed_hash(keys, kid, previous_hash, row)


@dataclass(frozen=True, slots=True)
class Appended:
    """The range of sequences one transaction appended."""

    first: int
    last: int


def _row(entry: AuditEntry, context: AuditContext, sequence: int) -> dict[str, Any]:
    address = entry.ip_address or context.ip_address
    return {
        "sequence": sequence,
        "id": uuid.uuid4(),
        "user_id": entry.user_id,
        "action": str(entry.action),
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "old_values": json_safe(entry.old_values),
        "new_values": json_safe(entry.new_values),
        "description": (entry.description or None) and entry.description[:500],
        "ip_address": (address or None) and address[:64],
        "user_agent": (context.user_agent or None) and context.user_agent[:512],
        "status": str(entry.status),
        "error_message": entry.error_message,
        "request_id": context.request_id,
        "created_at": utcnow(),
        "extra": json_safe(entry.metadata),
    }


async def append(
    session: AsyncSession,
    entries: Sequence[AuditEntry],
    context: AuditContext,
    *,
    keys: AuditKeys,
    notify_channel: str | None = None,
) -> Appended | None:
    """Chain and insert entries of one request (`context`) as the session's last step."""
    return await append_each(
        session,
        [(entry, context) for entry in entries],
        keys=keys,
        notify_channel=notify_channel,
    )


async def append_each(
    session: AsyncSession,
    entries: Sequence[tuple[AuditEntry, AuditContext]],
    *,
    keys: AuditKeys,
    notify_channel: str | None = None,
) -> Appended | None:
    """Chain and insert entries, each with its own request's context, as the session's last step.

    With `notify_channel` (PostgreSQL) the insert, the move of the tip and the NOTIFY go out
    as one statement, so the tip's row lock is held for two round trips and the COMMIT.
    """
    if not entries:
        return None
    sequence, previous = await repo.chain_head(session, for_update=True)
    rows = []
    kid = keys.current_id
    for entry, context in entries:
        sequence += 1
        row = _row(entry, context, sequence)
        row["key_id"] = kid
        row["previous_hash"] = previous
        row["hash"] = previous = keys.sign(_message(kid, previous, row))
        rows.append(row)
    appended = Appended(first=rows[0]["sequence"], last=sequence)
    notify = None
    if notify_channel is not None:
        notify = (notify_channel, f"{appended.first}:{appended.last}")
    await repo.store_chained(session, rows, (sequence, previous), notify=notify)
    return appended


def _message(kid: str, previous_hash: str, row: Mapping[Any, Any]) -> bytes:
    return previous_hash.encode() + b"\n" + kid.encode() + b"\n" + canonical(row)


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """The outcome of a chain verification."""

    valid: bool
    checked_entries: int
    first_broken_sequence: int | None
    head_hash: str
    legacy_entries: int = 0


def _fits(
    keys: AuditKeys, row: Mapping[Any, Any], expected: int, previous: str, keyed: bool
) -> bool:
    if row["sequence"] != expected or row["previous_hash"] != previous:
        return False
    if row["key_id"] is None and (keyed or row["sequence"] > keys.legacy_until):
        return False  # an unkeyed row after a keyed one or past the legacy prefix: a downgrade
    return bool(expected_hash(keys, previous, row) == row["hash"])


async def verify(session: AsyncSession, keys: AuditKeys) -> ChainStatus:
    """Recompute the whole chain in sequence order; report the first row that does not fit."""
    head_sequence, head_hash = await head(session)
    names = (*HASHED_FIELDS, "key_id", "previous_hash", "hash")
    expected, previous, checked, after = 1, GENESIS_HASH, 0, None
    keyed, legacy = False, 0
    while True:
        batch = await repo.chain_batch(session, names, after=after, limit=VERIFY_BATCH)
        for row in batch:
            if not _fits(keys, row, expected, previous, keyed):
                broken = min(expected, row["sequence"])
                return ChainStatus(False, checked, broken, head_hash, legacy)
            keyed = keyed or row["key_id"] is not None
            legacy += row["key_id"] is None
            previous, expected, checked = row["hash"], expected + 1, checked + 1
        if len(batch) < VERIFY_BATCH:
            break
        after = batch[-1]["sequence"]
    if head_sequence != expected - 1 or head_hash != previous:
        broken = min(head_sequence, expected - 1) + 1
        return ChainStatus(False, checked, broken, head_hash, legacy)
    return ChainStatus(True, checked, None, head_hash, legacy)


async def head(session: AsyncSession) -> tuple[int, str]:
    """The chain's tip: its sequence (0 for an empty chain) and hash."""
    return await repo.chain_head(session)


async def hash_at(session: AsyncSession, sequence: int) -> str | None:
    """The stored hash of the row at `sequence` (the genesis hash for 0); None when missing."""
    if sequence == 0:
        return GENESIS_HASH
    return await repo.hash_of(session, sequence)
