"""Signed checkpoints of the audit chain's head, to be published outside the database.

A checkpoint names a sequence, the hash the row at that sequence carried, when it was taken
and the id of the key that signed it. Whoever later rewrites history, even with the key, must
change the hash of every row after the first one rewritten, so the row at an older
checkpoint's sequence no longer carries the checkpoint's hash.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.logging import get_logger
from db.audit import chain
from db.audit.keys import AuditKeys
from db.base import utcnow

SIGNATURE_LABEL = b"ledgerql audit checkpoint v1\n"
log = get_logger("ledgerql.audit")


class CheckpointError(ValueError):
    """A checkpoint file or line that cannot be read as a checkpoint."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain's head at one moment, signed with the audit key."""

    sequence: int
    hash: str
    timestamp: str
    key_id: str
    signature: str

    def signed_part(self) -> bytes:
        """The bytes the signature covers: every other field as sorted, compact JSON."""
        document = {
            "hash": self.hash,
            "keyId": self.key_id,
            "sequence": self.sequence,
            "timestamp": self.timestamp,
        }
        return (
            SIGNATURE_LABEL + json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        )

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint as a JSON object (the format of one checkpoint-file line)."""
        return {
            "sequence": self.sequence,
            "hash": self.hash,
            "timestamp": self.timestamp,
            "keyId": self.key_id,
            "signature": self.signature,
        }

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(self.as_dict(), separators=(",", ":"))


def sign(keys: AuditKeys, sequence: int, head_hash: str, taken_at: datetime) -> Checkpoint:
    """A checkpoint of `sequence` / `head_hash`, signed with the current key."""
    unsigned = Checkpoint(
        sequence, head_hash, taken_at.isoformat(), key_id=keys.current_id, signature=""
    )
    signature = keys.sign(unsigned.signed_part())
    return Checkpoint(sequence, head_hash, unsigned.timestamp, unsigned.key_id, signature)


def signature_valid(keys: AuditKeys, checkpoint: Checkpoint) -> bool:
    """Whether a configured key with the checkpoint's key id signed exactly these fields."""
    expected = keys.mac(checkpoint.key_id, checkpoint.signed_part())
    return expected is not None and hmac.compare_digest(
        expected.encode(), checkpoint.signature.encode()
    )


def parse(line: str) -> Checkpoint:
    """A checkpoint from one line of JSON; CheckpointError when it is not one."""
    try:
        document = json.loads(line)
        checkpoint = Checkpoint(
            sequence=document["sequence"], hash=document["hash"],
            timestamp=document["timestamp"], key_id=document["keyId"],
            signature=document["signature"],
        )  # fmt: skip
    except (ValueError, TypeError, KeyError) as error:
        msg = "not a checkpoint: expected one JSON object with sequence, hash, timestamp, keyId "
        raise CheckpointError(msg + "and signature") from error
    if not isinstance(checkpoint.sequence, int) or isinstance(checkpoint.sequence, bool):
        msg = "not a checkpoint: sequence must be an integer"
        raise CheckpointError(msg)
    if not all(
        isinstance(value, str)
        for value in (
            checkpoint.hash,
            checkpoint.timestamp,
            checkpoint.key_id,
            checkpoint.signature,
        )
    ):
        msg = "not a checkpoint: hash, timestamp, keyId and signature must be strings"
        raise CheckpointError(msg)
    return checkpoint


def latest(path: Path) -> Checkpoint:
    """The last checkpoint of a file of checkpoint lines; CheckpointError when there is none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        msg = f"cannot read the checkpoint file {path}: {error.strerror}"
        raise CheckpointError(msg) from error
    written = [line for line in lines if line.strip()]
    if not written:
        msg = f"the checkpoint file {path} holds no checkpoint"
        raise CheckpointError(msg)
    return parse(written[-1])


def publish(checkpoint: Checkpoint, target: Path | None) -> None:
    """Log a checkpoint as the `audit_checkpoint` event and append it to `target`, if any."""
    if target is not None:
        append_to(target, checkpoint)
    # `mac`, not `signature`: the log redactor masks fields named like secrets; this is public.
    log.info(
        "audit_checkpoint",
        sequence=checkpoint.sequence, head_hash=checkpoint.hash, taken_at=checkpoint.timestamp,
        key_id=checkpoint.key_id, mac=checkpoint.signature, file=str(target) if target else None,
    )  # fmt: skip


def append_to(path: Path, checkpoint: Checkpoint) -> None:
    """Add a checkpoint as the last line of a file (created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(checkpoint.to_json() + "\n")


async def take(session: AsyncSession, keys: AuditKeys) -> Checkpoint:
    """A signed checkpoint of the chain's current head."""
    sequence, head_hash = await chain.head(session)
    return sign(keys, sequence, head_hash, utcnow())


async def mismatch(session: AsyncSession, keys: AuditKeys, checkpoint: Checkpoint) -> str | None:
    """Why the stored chain contradicts a checkpoint, or None when it still agrees."""
    if not signature_valid(keys, checkpoint):
        return "its signature does not verify with any configured audit key"
    stored = await chain.hash_at(session, checkpoint.sequence)
    if stored is None:
        return f"the chain has no row {checkpoint.sequence} any more"
    if stored != checkpoint.hash:
        return f"row {checkpoint.sequence} carries {stored}, not {checkpoint.hash}"
    return None
