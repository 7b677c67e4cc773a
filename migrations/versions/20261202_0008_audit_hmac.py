"""Keyed audit hashes: the id of the HMAC key that signed each audit row.

Rows written before this revision keep a NULL `key_id` and their plain SHA-256 hash; the
verifier accepts them only up to AUDIT_LEGACY_UNTIL_SEQUENCE (a setting, so that the database
cannot widen it), which the upgrade names. The key itself is never stored.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_logs", sa.Column("key_id", sa.String(length=16), nullable=True))
    last = op.get_bind().execute(sa.text("SELECT MAX(sequence) FROM audit_logs")).scalar()
    if last:
        logging.getLogger("alembic.runtime.migration").warning(
            "audit rows 1..%s are hashed without a key: set AUDIT_LEGACY_UNTIL_SEQUENCE=%s "
            "so that they verify, and take a checkpoint (ledgerql audit-checkpoint)",
            last,
            last,
        )


def downgrade() -> None:
    # A plain ALTER TABLE (SQLite >= 3.35): a batch copy would lose the immutability triggers.
    op.drop_column("audit_logs", "key_id")
