"""Balances stay within 2^53 - 1 minor units, the largest amount a JSON client holds exactly.

On SQLite a CHECK can only be added by rebuilding the table (Alembic's batch mode), which
drops the table's triggers: the ledger's immutability triggers are created again afterwards.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_BALANCE = 9007199254740991  # 2^53 - 1, db.money.MAX_BALANCE when this revision was written
SQLITE_LEDGER_TRIGGERS = ("UPDATE", "DELETE")


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sqlite_ledger_triggers(action: str) -> None:
    """Drop or re-create the SQLite triggers that refuse changes to posted transactions."""
    for operation in SQLITE_LEDGER_TRIGGERS:
        name = f"transactions_no_{operation.lower()}"
        if action == "drop":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            continue
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {operation} ON transactions BEGIN "
            f"SELECT RAISE(ABORT, '{operation} on transactions is not allowed'); END"
        )


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_accounts_balance_within_limit"), f"balance <= {MAX_BALANCE}"
        )
    if _is_sqlite():
        _sqlite_ledger_triggers("drop")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_transactions_balance_after_within_limit"), f"balance_after <= {MAX_BALANCE}"
        )
    if _is_sqlite():
        _sqlite_ledger_triggers("create")


def downgrade() -> None:
    if _is_sqlite():
        _sqlite_ledger_triggers("drop")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_transactions_balance_after_within_limit"), type_="check")
    if _is_sqlite():
        _sqlite_ledger_triggers("create")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_accounts_balance_within_limit"), type_="check")
