"""SQLite: no INSERT OR REPLACE over a ledger line, an audit row or the chain's head.

SQLite's REPLACE deletes the row it conflicts with without firing DELETE triggers unless the
connection set `recursive_triggers` (the application's connections do; a plain `sqlite3`
shell does not). These BEFORE INSERT triggers refuse any insert that would meet an existing
row's key, whatever the connection's pragmas. PostgreSQL has no REPLACE: nothing to do there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the condition under which an insert would replace one of its rows (its unique keys)
KEYS = {
    "transactions": "id = NEW.id OR (account_id = NEW.account_id AND entry = NEW.entry)",
    "audit_logs": "id = NEW.id OR sequence = NEW.sequence",
    "audit_chain_head": "id = NEW.id",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, clash in KEYS.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608 - our names
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) BEGIN "
            f"SELECT RAISE(ABORT, 'replacing a row of {table} is not allowed'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in KEYS:
        op.execute(f"DROP TRIGGER {table}_no_replace")
