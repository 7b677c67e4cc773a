"""Usernames unique after NFKC and case folding; failed sign-ins counted per sign-in name.

Adds `users.username_key` (the username trimmed, NFKC-normalised and case-folded), filled in
Python because NFKC and case folding are not portable SQL, with a unique index over live users;
and `login_throttles`. When live users already share a key (e.g. `Alice` and `alice`), the
upgrade stops before changing anything and names them: rename or delete all but one of each
group (`ledgerql` admin tools or SQL), then run the upgrade again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_LENGTH = 200


class UsernameTwins(RuntimeError):
    """Live users whose usernames differ only by case or Unicode form."""


def username_key(username: str) -> str:
    """Frozen copy of `db.models.identity.username_key` as of this revision."""
    folded = unicodedata.normalize("NFKC", username.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)[:KEY_LENGTH]


def _keys_or_twins(rows: Sequence[sa.Row[tuple[object, str, object]]]) -> dict[object, str]:
    """Each user's key; raises naming every group of live users that share one."""
    keys: dict[object, str] = {}
    live: dict[str, list[str]] = defaultdict(list)
    for user_id, username, deleted_at in rows:
        keys[user_id] = username_key(username)
        if deleted_at is None:
            live[keys[user_id]].append(f"{username!r} (id {user_id})")
    twins = {key: users for key, users in live.items() if len(users) > 1}
    if twins:
        groups = "; ".join(" and ".join(users) for _, users in sorted(twins.items()))
        msg = (
            f"cannot make usernames unique regardless of case: {len(twins)} group(s) of live "
            f"users share a username up to case or Unicode form: {groups}. Rename or delete "
            "all but one user of each group, then run the upgrade again. Nothing was changed."
        )
        raise UsernameTwins(msg)
    return keys


def upgrade() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("username", sa.String()),
        sa.column("username_key", sa.String()),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.username, users.c.deleted_at)).all()
    keys = _keys_or_twins(rows)  # before any change, so a refusal leaves the schema as it was

    op.add_column("users", sa.Column("username_key", sa.String(length=KEY_LENGTH), nullable=True))
    for user_id, key in keys.items():
        connection.execute(sa.update(users).where(users.c.id == user_id).values(username_key=key))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "username_key", existing_type=sa.String(length=KEY_LENGTH), nullable=False
        )
        batch_op.create_index(
            "uq_users_username_key_live",
            ["username_key"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_index(
        op.f("ix_login_throttles_last_failed_at"),
        "login_throttles",
        ["last_failed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttles_last_failed_at"), table_name="login_throttles")
    op.drop_table("login_throttles")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_username_key_live")
        batch_op.drop_column("username_key")
