"""Faults that are not key races surface as faults, never as a business answer."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.models import Account, AccountType, LedgerTransaction, TransactionType
from db.services import accounts as account_service
from db.services import ledger as ledger_service
from db.session import Database
from tests.support.identity import signed_in
from tests.support.money import in_transaction


async def test_a_ledger_integrity_error_propagates_instead_of_posing_as_a_reused_key(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await signed_in(client, "ann")
    async with database.unit_of_work() as uow:
        await in_transaction(
            uow, account_service.create_holder, ann.user_id, "Ann", "Lee", date(1990, 1, 1)
        )
        account = await in_transaction(
            uow, account_service.open_account, ann.user_id, AccountType.CHECKING, "USD"
        )
    # A stray line takes entry 1 behind the service's back (the account still counts 0 entries).
    async with database.unit_of_work() as uow, uow.write() as session:
        session.add(
            LedgerTransaction(
                id=uuid.uuid4(), account_id=account.id, entry=1, type="DEPOSIT", amount=5,
                currency="USD", balance_after=5, description="stray", created_at=utcnow(),
            )
        )  # fmt: skip
    async with database.unit_of_work() as uow:
        with pytest.raises(IntegrityError):
            await in_transaction(
                uow, ledger_service.deposit_or_withdraw, ann.user_id, TransactionType.DEPOSIT,
                account.id, 100, key="k-1",
            )  # fmt: skip
    async with database.unit_of_work() as uow, uow.read() as session:
        balance = (
            await session.execute(select(Account.balance).where(Account.id == account.id))
        ).scalar_one()
        lines = (
            await session.execute(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.account_id == account.id)
            )
        ).scalar_one()
    assert (balance, lines) == (0, 1)
