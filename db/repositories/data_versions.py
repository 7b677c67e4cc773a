"""Renewing users' data versions: the last statement of a write that changed their data.

db/data_versions.py explains what is noted and why; this is the one statement that applies it.
A new version is a random 62-bit number rather than the old one plus one: it only has to differ
from every version an answer was cached under, and a counter could come back to an old value
after a failover to a standby that missed commits, or a restore from a backup.
"""

from __future__ import annotations

import secrets

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.data_versions import Changes
from db.models import Account, AccountHolder, AuthSession, User, UserRole


async def renew_data_versions(session: AsyncSession, changes: Changes) -> None:
    """Renew the data version of every user who owns something in `changes` (one statement).

    Soft-deleted rows count too (an UPDATE is not filtered like the ORM's reads).
    """
    if not changes:
        return
    owners = []
    if changes.user_ids:
        owners.append(User.id.in_(changes.user_ids))
    holder_ids = select(AccountHolder.user_id).where(
        or_(
            AccountHolder.id.in_(changes.holder_ids),
            AccountHolder.id.in_(
                select(Account.holder_id).where(Account.id.in_(changes.account_ids))
            ),
        )
    )
    if changes.holder_ids or changes.account_ids:
        owners.append(User.id.in_(holder_ids))
    if changes.session_ids:
        owners.append(
            User.id.in_(select(AuthSession.user_id).where(AuthSession.id.in_(changes.session_ids)))
        )
    if changes.role_ids:
        owners.append(
            User.id.in_(select(UserRole.user_id).where(UserRole.role_id.in_(changes.role_ids)))
        )
    statement = (
        update(User)
        .where(or_(*owners))
        # `updated_at` is the profile's: kept, not moved by its `onupdate`.
        .values(data_version=secrets.randbits(62), updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)
