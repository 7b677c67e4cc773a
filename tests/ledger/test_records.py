"""Reads of the ledger, cards, statements and audit build records: no ORM object is loaded.

A `load` listener on the declarative base counts every instance the ORM hydrates while real
GraphQL reads run; every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, update
from starlette.applications import Starlette

from core.settings import Settings
from db.base import Base
from db.models import (
    Account,
    AccountHolder,
    AccountType,
    AuditLog,
    Card,
    LedgerTransaction,
    TransactionType,
    Transfer,
)
from db.records.statements import PeriodFigures
from db.repositories import audit as audit_repo
from db.repositories import cards as card_repo
from db.repositories import ledger as ledger_repo
from db.repositories import statements as statement_repo
from db.repositories.rows import Reader
from db.services import accounts as account_service
from db.services import ledger as ledger_service
from db.session import Database
from tests.accounts.test_reads import DASHBOARD, chain_transfers, open_accounts
from tests.support.identity import SignedIn, global_id, gql, signed_in, signed_in_with_role
from tests.support.money import in_transaction, key, ok

RECORD_MODELS = (LedgerTransaction, Transfer, Card, AuditLog)
"""The models whose reads this domain serves from records."""

PAGE = """
query($id: ID!, $after: String) {
  account(id: $id) {
    transactions(first: 100, after: $after) {
      totalCount
      edges { cursor node { id type amount { amount } balanceAfter { amount } description
        createdAt transfer { id amount { amount } } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
NODES = """
query($transfer: ID!, $card: ID!, $line: ID!, $audit: ID!) {
  transferNode: node(id: $transfer) { id }
  cardNode: node(id: $card) { id }
  lineNode: node(id: $line) { id }
  auditNode: node(id: $audit) { id }
  transfer(id: $transfer) { id amount { amount } }
  card(id: $card) { id last4 }
}
"""
AUDIT = """
query($after: String) {
  auditLogs(first: 3, after: $after) {
    totalCount
    edges { cursor node { id sequence action metadata } }
  }
  me { auditLogs(first: 2) { totalCount edges { node { id hash } } } }
}
"""
STATEMENT = """
query($id: ID!, $from: Date!, $to: Date!) {
  statement(accountId: $id, from: $from, to: $to) {
    openingBalance { amount } closingBalance { amount } totalCredits { amount }
    transactions(first: 2) { totalCount edges { node { id } } }
  }
}
"""


@contextmanager
def hydrated() -> Iterator[Counter[str]]:
    """Counts, by class name, the model instances the ORM loads inside the block."""
    loaded: Counter[str] = Counter()

    def count(instance: Any, _context: Any) -> None:
        loaded[type(instance).__name__] += 1

    event.listen(Base, "load", count, propagate=True)
    try:
        yield loaded
    finally:
        event.remove(Base, "load", count)


def of_record_models(loaded: Counter[str]) -> dict[str, int]:
    """The counts of the models this domain reads as records."""
    return {model.__name__: loaded[model.__name__] for model in RECORD_MODELS}


NONE_LOADED = {model.__name__: 0 for model in RECORD_MODELS}


async def account_of_101_lines(database: Database, user: SignedIn) -> uuid.UUID:
    """One account with 101 deposits of 1..101 (two pages of 100)."""
    async with database.unit_of_work() as uow:
        await in_transaction(
            uow, account_service.create_holder, user.user_id, "Ann", "Lee", date(1990, 1, 1)
        )
        account = await in_transaction(
            uow, account_service.open_account, user.user_id, AccountType.CHECKING, "USD"
        )
        for amount in range(1, 102):
            await in_transaction(
                uow, ledger_service.deposit_or_withdraw, user.user_id, TransactionType.DEPOSIT,
                account.id, amount, key=key(),
            )  # fmt: skip
    account_id: uuid.UUID = account.id
    return account_id


async def test_the_listener_counts_what_the_orm_loads(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "eve")  # registering writes audit rows
    with hydrated() as loaded:
        async with database.unit_of_work() as uow, uow.read() as session:
            rows = (await session.execute(select(AuditLog).limit(1))).scalars().all()
    assert len(rows) == 1
    assert loaded == Counter({"AuditLog": 1})


async def test_the_dashboard_loads_no_ledger_card_or_audit_object(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Starlette
) -> None:
    user = await signed_in(client, "dana")
    await chain_transfers(
        database, user.user_id, await open_accounts(database, settings, user.user_id, 3)
    )
    with hydrated() as loaded:
        body = await gql(client, DASHBOARD, token=user.access_token)
    assert "errors" not in body, body
    edges = body["data"]["me"]["accounts"]["edges"]
    assert [len(edge["node"]["cards"]) for edge in edges] == [1, 1, 1]
    assert [edge["node"]["transactions"]["totalCount"] for edge in edges] == [3, 4, 3]
    assert of_record_models(loaded) == NONE_LOADED


async def test_pages_of_100_transactions_load_no_orm_object(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "ann")
    account = global_id("Account", await account_of_101_lines(database, user))
    with hydrated() as loaded:
        first = (await ok(client, PAGE, {"id": account}, user))["account"]["transactions"]
        after = first["pageInfo"]["endCursor"]
        rest = (await ok(client, PAGE, {"id": account, "after": after}, user))["account"]
    assert [edge["node"]["amount"]["amount"] for edge in first["edges"]] == list(range(101, 1, -1))
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["totalCount"] == 101
    assert [edge["node"]["amount"]["amount"] for edge in rest["transactions"]["edges"]] == [1]
    assert rest["transactions"]["pageInfo"]["hasNextPage"] is False
    assert of_record_models(loaded) == NONE_LOADED


async def test_nodes_statements_and_audit_pages_load_no_orm_object(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    user = await signed_in_with_role(client, database, "boss", "admin")
    ids = await open_accounts(database, settings, user.user_id, 2)
    await chain_transfers(database, user.user_id, ids)
    async with database.unit_of_work() as uow, uow.read() as session:
        transfer_id = (await session.execute(select(Transfer.id))).scalar_one()
        card_id = (await session.execute(select(Card.id).limit(1))).scalar_one()
        line_id = (await session.execute(select(LedgerTransaction.id).limit(1))).scalar_one()
        audit_id = (await session.execute(select(AuditLog.id).limit(1))).scalar_one()
    variables = {
        "transfer": global_id("Transfer", transfer_id), "card": global_id("Card", card_id),
        "line": global_id("Transaction", line_id), "audit": global_id("AuditLog", audit_id),
    }  # fmt: skip
    today = datetime.now(UTC).date()
    period = {
        "id": global_id("Account", ids[0]), "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }  # fmt: skip
    with hydrated() as loaded:
        nodes = await ok(client, NODES, variables, user)
        audit = await ok(client, AUDIT, {}, user)
        after = audit["auditLogs"]["edges"][-1]["cursor"]
        later = await ok(client, AUDIT, {"after": after}, user)
        statement = await ok(client, STATEMENT, period, user)
    assert [nodes[name] for name in ("transferNode", "cardNode", "lineNode", "auditNode")] == [
        {"id": variables["transfer"]}, {"id": variables["card"]}, None,
        {"id": variables["audit"]},
    ]  # fmt: skip
    assert nodes["transfer"] == {"id": variables["transfer"], "amount": {"amount": 100}}
    assert nodes["card"]["id"] == variables["card"]
    sequences = [edge["node"]["sequence"] for edge in audit["auditLogs"]["edges"]]
    later_sequences = [edge["node"]["sequence"] for edge in later["auditLogs"]["edges"]]
    assert later_sequences == [sequences[-1] - 1, sequences[-1] - 2, sequences[-1] - 3]
    assert len(audit["me"]["auditLogs"]["edges"]) == 2
    assert statement["statement"]["openingBalance"] == {"amount": 0}
    assert statement["statement"]["totalCredits"] == {"amount": 5000}
    assert statement["statement"]["transactions"]["totalCount"] == 3
    assert of_record_models(loaded) == NONE_LOADED


@dataclass(frozen=True)
class Caller:
    """A viewer who sees their own rows only, or everything (`everything`)."""

    user_id: uuid.UUID
    everything: bool = False

    def sees_all_users(self) -> bool:
        """Whether every user is visible."""
        return self.everything

    def sees_all_sessions(self) -> bool:
        """Whether every session is visible."""
        return self.everything

    def sees_all_holders(self) -> bool:
        """Whether every holder is visible."""
        return self.everything

    def sees_all_accounts(self) -> bool:
        """Whether every account is visible."""
        return self.everything

    def sees_all_audit(self) -> bool:
        """Whether every audit row is visible."""
        return self.everything


async def every_read(reader: Reader, caller: Caller, ids: list[uuid.UUID]) -> dict[str, Any]:
    """Every record read of the four domains, run on `reader`, as comparable values."""
    lines = ledger_repo.TransactionQuery()
    first = await ledger_repo.transactions_page(
        reader, caller, replace(lines, account_id=ids[1]), 2, None
    )
    after = await ledger_repo.transactions_page(
        reader, caller, replace(lines, account_id=ids[1]), 2, first.cursor_at(1)
    )
    pages = await ledger_repo.first_transaction_pages(reader, caller, lines, ids, 2)
    line_ids = [row.id for row in pages[ids[0]].rows]
    transfer_ids = [row.transfer_id for row in first.rows if row.transfer_id is not None]
    cards = await card_repo.cards_of_accounts(reader, caller, ids)
    card_ids = [card.id for owned in cards.values() for card in owned]
    audit = audit_repo.AuditQuery()
    audit_page = await audit_repo.list_page(reader, caller, audit, 3, None)
    audit_ids = [row.id for row in audit_page.rows]
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    return {
        "page": [first.rows, first.has_next, first.cursor_at(0)],
        "after": [after.rows, after.has_next, after.has_previous],
        "first pages": {key: (page.rows, page.has_next) for key, page in pages.items()},
        "counts": await ledger_repo.transaction_counts(reader, caller, lines, ids),
        "lines": await ledger_repo.transactions_by_ids(reader, caller, line_ids),
        "transfers": await ledger_repo.transfers_by_ids(reader, caller, transfer_ids),
        "cards": cards,
        "cards by id": await card_repo.cards_by_ids(reader, caller, card_ids),
        "figures": await statement_repo.period_figures(reader, ids[0], start, end),
        "audit": [audit_page.rows, audit_page.has_next],
        "audit by user": {
            key: page.rows
            for key, page in (
                await audit_repo.first_pages_by_user(reader, caller, audit, [caller.user_id], 2)
            ).items()
        },
        "audit counts": await audit_repo.counts_by_user(reader, caller, audit, [caller.user_id]),
        "audit count": await audit_repo.count(reader, caller, audit),
        "audit by id": await audit_repo.visible_by_ids(reader, caller, audit_ids),
    }


@pytest.mark.parametrize("everything", [False, True], ids=["own", "all"])
async def test_reads_answer_the_same_on_a_bare_connection_as_on_the_session(
    client: httpx.AsyncClient, database: Database, settings: Settings, everything: bool
) -> None:
    user = await signed_in(client, "dana")
    ids = await open_accounts(database, settings, user.user_id, 3)
    await chain_transfers(database, user.user_id, ids)
    caller = Caller(user.user_id, everything)
    async with database.unit_of_work() as uow, uow.read() as session:
        on_session = await every_read(session, caller, ids)
    async with database.engine.connect() as connection:
        on_connection = await every_read(connection, caller, ids)
    assert on_connection == on_session
    assert [row.amount for row in on_session["page"][0]] == [100, 100]
    assert [row.type for row in on_session["after"][0]] == ["WITHDRAWAL", "DEPOSIT"]
    assert on_session["after"][1:] == [False, True]
    assert on_session["counts"] == dict(zip(ids, [3, 4, 3], strict=True))
    assert len(on_session["transfers"]) == 2
    assert [len(owned) for owned in on_session["cards"].values()] == [1, 1, 1]
    assert on_session["figures"] == PeriodFigures(opening=0, closing=4200, credits=5000, debits=800)
    assert len(on_session["audit"][0]) == 3


async def soft_delete(database: Database, model: type[Base], *conditions: Any) -> None:
    """Mark the rows matching `conditions` deleted, as the ORM's `soft_delete` would."""
    table = model.__table__
    async with database.engine.begin() as connection:
        await connection.execute(
            update(table).where(*conditions).values(deleted_at=datetime.now(UTC))
        )


async def test_soft_deleted_rows_stay_hidden_from_record_reads(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    user = await signed_in(client, "dana")
    ids = await open_accounts(database, settings, user.user_id, 3)
    await chain_transfers(database, user.user_id, ids)
    own, everything = Caller(user.user_id), Caller(user.user_id, everything=True)
    async with database.unit_of_work() as uow, uow.read() as session:
        legs = (await session.execute(select(Transfer.id, Transfer.to_account_id))).all()
    transfer_into = {target: transfer_id for transfer_id, target in legs}
    await soft_delete(database, Card, Card.account_id == ids[0])
    # Ledger lines and transfers are never changed (a trigger refuses it): no soft delete.
    await soft_delete(database, Account, Account.id == ids[2])
    lines = ledger_repo.TransactionQuery()
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    async with database.unit_of_work() as uow, uow.read() as session:
        cards = await card_repo.cards_of_accounts(session, own, ids)
        counts = await ledger_repo.transaction_counts(session, own, lines, ids)
        transfers = await ledger_repo.transfers_by_ids(session, own, list(transfer_into.values()))
        figures = await statement_repo.period_figures(session, ids[0], start, end)
    assert sorted(cards) == [ids[1]]
    assert counts == {ids[0]: 3, ids[1]: 4, ids[2]: 0}
    # The transfer into the deleted account still leaves a visible one.
    assert sorted(transfers) == sorted(transfer_into.values())
    assert figures == PeriodFigures(opening=0, closing=4200, credits=5000, debits=800)
    await soft_delete(database, AccountHolder, AccountHolder.user_id == user.user_id)
    async with database.unit_of_work() as uow, uow.read() as session:
        hidden = await ledger_repo.transaction_counts(session, own, lines, ids)
        shown = await ledger_repo.transaction_counts(session, everything, lines, ids)
        pages = await ledger_repo.first_transaction_pages(session, own, lines, ids, 10)
    assert hidden == {ids[0]: 0, ids[1]: 0, ids[2]: 0}
    assert shown == {ids[0]: 3, ids[1]: 4, ids[2]: 0}
    assert [page.rows for page in pages.values()] == [[], [], []]
