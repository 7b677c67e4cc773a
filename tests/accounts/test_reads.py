"""Banking reads: statements per dashboard, transaction pages, consistent snapshots, resolvers.

Bulk data (50 accounts, 25 transactions) is written through the service layer for speed; every
read goes through GraphQL.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import date, datetime
from typing import Any

import httpx
from starlette.applications import Starlette

from core.settings import Settings
from db.models import AccountType, CardType, TransactionType
from db.services import accounts as account_service
from db.services import cards as card_service
from db.services import ledger as ledger_service
from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import last_sequence, rows_after
from tests.support.identity import SignedIn, global_id, gql, signed_in
from tests.support.money import (
    ACCOUNT,
    create_holder,
    in_transaction,
    key,
    move,
    ok,
    open_account,
    transfer,
)
from tests.support.queries import count_statements

DASHBOARD = """
query {
  me { accounts(first: 50) { edges { node {
    balance { amount currency }
    holder { firstName }
    transactions(first: 10) {
      totalCount
      edges { node { amount { amount } type createdAt transfer { id } } }
    }
    cards { last4 status }
  } } } }
}
"""
DASHBOARD_READS = 6
"""On the operation's one connection: the session with its user and permissions, the user's
accounts (joined through the holder), their holders by id, first transaction pages, cards,
transaction counts; one more for the transfer legs when any line has one."""
AUDIT_READ_STATEMENTS = {"sqlite": 3, "postgresql": 3}
"""Storing the cards' audit READ row afterwards: the chain head, the row, then the new head
(on PostgreSQL with the NOTIFY, in one statement)."""
TRANSACTIONS = """
query($id: ID!, $first: Int, $after: String, $filter: TransactionFilter) {
  account(id: $id) {
    transactions(first: $first, after: $after, filter: $filter) {
      totalCount
      edges { cursor node { id type amount { amount } createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
SNAPSHOT = """
query($a: ID!, $b: ID!) {
  a: account(id: $a) { ...Head }
  b: account(id: $b) { ...Head }
}
fragment Head on Account {
  balance { amount }
  transactions(first: 1) { totalCount edges { node { balanceAfter { amount } } } }
}
"""


async def open_accounts(
    database: Database, settings: Settings, user_id: uuid.UUID, count: int
) -> list[uuid.UUID]:
    """A holder with `count` USD accounts, each with a deposit, a withdrawal and a card."""
    async with database.unit_of_work() as uow:
        await in_transaction(
            uow, account_service.create_holder, user_id, "Dana", "Scully", date(1990, 2, 23)
        )
        ids = []
        for _ in range(count):
            account = await in_transaction(
                uow, account_service.open_account, user_id, AccountType.CHECKING, "USD"
            )
            ids.append(account.id)
            for kind, amount in (
                (TransactionType.DEPOSIT, 5000),
                (TransactionType.WITHDRAWAL, 700),
            ):
                await in_transaction(
                    uow, ledger_service.deposit_or_withdraw, user_id, kind, account.id, amount,
                    key=key(),
                )  # fmt: skip
            await in_transaction(
                uow, card_service.issue, user_id, account.id, CardType.DEBIT,
                settings.card_fingerprint_key(),
            )  # fmt: skip
    return ids


async def chain_transfers(database: Database, user_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    """Move 100 from each account to the next, so every account has a transfer leg."""
    async with database.unit_of_work() as uow:
        for source, target in itertools.pairwise(ids):
            await in_transaction(
                uow, ledger_service.transfer, user_id, source, target, 100, key=key()
            )


async def dashboard_statements(
    client: httpx.AsyncClient, app: Starlette, user: SignedIn, accounts: int, transfers: bool
) -> int:
    """Statements the dashboard query runs for `user`, after checking what it returned."""
    with count_statements(app.state.database.engine) as counter:
        body = await gql(client, DASHBOARD, token=user.access_token)
    assert "errors" not in body, body
    edges = body["data"]["me"]["accounts"]["edges"]
    assert len(edges) == accounts
    for edge in edges:
        node = edge["node"]
        assert node["holder"] == {"firstName": "Dana"}
        assert node["cards"] == [{"last4": node["cards"][0]["last4"], "status": "ACTIVE"}]
        lines = node["transactions"]["edges"]
        assert node["transactions"]["totalCount"] == len(lines) >= 2
        assert [line["node"]["type"] for line in lines][-2:] == ["WITHDRAWAL", "DEPOSIT"]
        legs = [line["node"]["transfer"] for line in lines if line["node"]["transfer"]]
        assert bool(legs) is transfers
    return counter.count


async def test_the_dashboard_runs_as_many_statements_for_fifty_accounts_as_for_one(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Starlette
) -> None:
    solo, pair, many = [await signed_in(client, name) for name in ("solo", "pair", "many")]
    await open_accounts(database, settings, solo.user_id, 1)
    many_ids = await open_accounts(database, settings, many.user_id, 50)
    one = await dashboard_statements(client, app, solo, 1, transfers=False)
    fifty = await dashboard_statements(client, app, many, 50, transfers=False)
    assert one == fifty == DASHBOARD_READS + AUDIT_READ_STATEMENTS[database.dialect]
    # With transfer legs, the smallest comparable dashboard holds two accounts.
    await chain_transfers(
        database, pair.user_id, await open_accounts(database, settings, pair.user_id, 2)
    )
    await chain_transfers(database, many.user_id, many_ids)
    two = await dashboard_statements(client, app, pair, 2, transfers=True)
    fifty = await dashboard_statements(client, app, many, 50, transfers=True)
    assert two == fifty == DASHBOARD_READS + 1 + AUDIT_READ_STATEMENTS[database.dialect]


async def test_the_cards_of_fifty_accounts_are_one_audited_read(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Starlette
) -> None:
    many = await signed_in(client, "many")
    ids = await open_accounts(database, settings, many.user_id, 50)
    after = await last_sequence(database)
    await dashboard_statements(client, app, many, 50, transfers=False)
    reads = await rows_after(database, after, action="READ", entity_type="Card")
    assert len(reads) == 1, reads
    assert sorted(reads[0]["extra"]["accounts"]) == sorted(str(i) for i in ids)
    assert reads[0]["user_id"] == many.user_id


# --- account.transactions --------------------------------------------------------------------


async def ledger_of_25(database: Database, user: SignedIn) -> str:
    """One account with entries 1..25, each of its entry number in amount; every 5th withdraws."""
    async with database.unit_of_work() as uow:
        await in_transaction(
            uow, account_service.create_holder, user.user_id, "Ann", "Lee", date(1990, 1, 1)
        )
        account = await in_transaction(
            uow, account_service.open_account, user.user_id, AccountType.CHECKING, "USD"
        )
        for entry in range(1, 26):
            kind = TransactionType.WITHDRAWAL if entry % 5 == 0 else TransactionType.DEPOSIT
            await in_transaction(
                uow, ledger_service.deposit_or_withdraw, user.user_id, kind, account.id, entry,
                key=key(),
            )  # fmt: skip
    return global_id("Account", account.id)


async def transactions(
    client: httpx.AsyncClient, user: SignedIn, account: str, **variables: Any
) -> dict[str, Any]:
    """One page of `account.transactions` (asserting no error)."""
    data = await ok(client, TRANSACTIONS, {"id": account, **variables}, user)
    page: dict[str, Any] = data["account"]["transactions"]
    return page


def amounts(page: dict[str, Any]) -> list[int]:
    """The amounts of a page's transactions, in page order."""
    return [edge["node"]["amount"]["amount"] for edge in page["edges"]]


async def all_pages(
    client: httpx.AsyncClient, user: SignedIn, account: str, first: int, **variables: Any
) -> list[dict[str, Any]]:
    """Every page of a transactions list, following endCursor."""
    pages = [await transactions(client, user, account, first=first, **variables)]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        after = pages[-1]["pageInfo"]["endCursor"]
        pages.append(
            await transactions(client, user, account, first=first, after=after, **variables)
        )
    return pages


async def test_transactions_page_newest_first_with_cursors_that_continue(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "ann")
    account = await ledger_of_25(database, user)
    pages = await all_pages(client, user, account, 10)
    assert [amounts(page) for page in pages] == [
        list(range(25, 15, -1)), list(range(15, 5, -1)), list(range(5, 0, -1))
    ]  # fmt: skip
    assert [page["totalCount"] for page in pages] == [25, 25, 25]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True]
    for page in pages:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    # A cursor from the middle of a page continues right after that transaction.
    middle = pages[0]["edges"][4]["cursor"]
    after_middle = await transactions(client, user, account, first=3, after=middle)
    assert amounts(after_middle) == [20, 19, 18]


async def test_transactions_filter_by_type_and_by_time(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "ann")
    account = await ledger_of_25(database, user)
    withdrawals = await transactions(client, user, account, filter={"type": "WITHDRAWAL"})
    assert (amounts(withdrawals), withdrawals["totalCount"]) == ([25, 20, 15, 10, 5], 5)
    deposits = await all_pages(client, user, account, 10, filter={"type": "DEPOSIT"})
    assert [amounts(page) for page in deposits][1] == [12, 11, 9, 8, 7, 6, 4, 3, 2, 1]
    assert {edge["node"]["type"] for page in deposits for edge in page["edges"]} == {"DEPOSIT"}
    everything = (await transactions(client, user, account, first=25))["edges"]
    moments = {edge["node"]["amount"]["amount"]: edge["node"]["createdAt"] for edge in everything}
    since, until = moments[6], moments[16]  # `from` is included, `to` is not
    window = await transactions(
        client, user, account, first=50, filter={"from": since, "to": until}
    )
    start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
    expected = [
        amount for amount, moment in moments.items()
        if start <= datetime.fromisoformat(moment) < end
    ]  # fmt: skip
    assert amounts(window) == expected
    assert (expected[0], expected[-1]) == (15, 6)
    assert window["totalCount"] == len(expected)
    late = await transactions(
        client, user, account, filter={"from": moments[25], "type": "DEPOSIT"}
    )
    assert (amounts(late), late["totalCount"]) == ([], 0)


async def test_transactions_refuse_bad_sizes_and_foreign_cursors(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await signed_in(client, "ann")
    account = await ledger_of_25(database, user)
    for first in (0, -1, 101):
        body = await gql(
            client, TRANSACTIONS, {"id": account, "first": first}, token=user.access_token
        )
        assert_top_level(body, "BAD_REQUEST", 400)
    listed = await ok(client, "query { me { accounts { edges { cursor } } } }", {}, user)
    account_cursor = listed["me"]["accounts"]["edges"][0]["cursor"]
    for after in (account_cursor, "not-a-cursor", ""):
        body = await gql(
            client, TRANSACTIONS, {"id": account, "first": 5, "after": after},
            token=user.access_token,
        )  # fmt: skip
        assert_top_level(body, "BAD_REQUEST", 400)


# --- consistency and resolvers ---------------------------------------------------------------


async def test_balance_matches_the_newest_transaction_while_transfers_run(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in(client, "ann")
    await create_holder(client, user)
    a, b = await open_account(client, user), await open_account(client, user)
    for account in (a, b):
        assert (await move(client, user, "deposit", account, 10_000))["errors"] == []

    async def read() -> dict[str, Any]:
        return await ok(client, SNAPSHOT, {"a": a, "b": b}, user)

    moves = [transfer(client, user, *((a, b) if i % 2 else (b, a)), 100 + i) for i in range(20)]
    results = await asyncio.gather(*moves, *[read() for _ in range(30)])
    assert all(payload["errors"] == [] for payload in results[:20])
    for snapshot in results[20:]:
        total = 0
        for side in (snapshot["a"], snapshot["b"]):
            [newest] = side["transactions"]["edges"]
            assert side["balance"] == newest["node"]["balanceAfter"], snapshot
            total += side["balance"]["amount"]
        assert total == 20_000, snapshot
    final = await read()
    assert (
        final["a"]["transactions"]["totalCount"] == final["b"]["transactions"]["totalCount"] == 21
    )


async def test_holder_account_transaction_and_transfer_links_resolve(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in(client, "ann")
    holder = await create_holder(client, user, "Ann")
    usd, jpy, kwd = [
        await open_account(client, user, currency) for currency in ("USD", "JPY", "KWD")
    ]
    savings = await open_account(client, user, "USD", "SAVINGS")
    for account in (usd, jpy, kwd):
        assert (await move(client, user, "deposit", account, 1234))["errors"] == []
    moved = await transfer(client, user, usd, savings, 234, description="rent")
    transfer_id = moved["transfer"]["id"]
    data = await ok(
        client,
        """
        query($holder: ID!, $usd: ID!, $transfer: ID!) {
          me { accountHolder { id firstName lastName dateOfBirth } }
          accountHolder(id: $holder) { accounts { totalCount edges { node { id type currency } } } }
          account(id: $usd) { transactions { edges { node {
            type account { id } transfer { id amount { amount formatted } }
          } } } }
          transfer(id: $transfer) {
            description amount { amount currency formatted } fromAccount { id } toAccount { id }
          }
        }
        """,
        {"holder": holder, "usd": usd, "transfer": transfer_id}, user,
    )  # fmt: skip
    assert data["me"]["accountHolder"] == {
        "id": holder, "firstName": "Ann", "lastName": "Lovelace", "dateOfBirth": "1990-12-10"
    }  # fmt: skip
    listed = data["accountHolder"]["accounts"]
    assert listed["totalCount"] == 4
    assert [(e["node"]["id"], e["node"]["currency"]) for e in listed["edges"]] == [
        (usd, "USD"), (jpy, "JPY"), (kwd, "KWD"), (savings, "USD")
    ]  # fmt: skip
    lines = [edge["node"] for edge in data["account"]["transactions"]["edges"]]
    assert [line["type"] for line in lines] == ["TRANSFER_OUT", "DEPOSIT"]
    assert all(line["account"] == {"id": usd} for line in lines)
    assert lines[0]["transfer"] == {
        "id": transfer_id,
        "amount": {"amount": 234, "formatted": "2.34"},
    }
    assert lines[1]["transfer"] is None
    assert data["transfer"] == {
        "description": "rent", "amount": {"amount": 234, "currency": "USD", "formatted": "2.34"},
        "fromAccount": {"id": usd}, "toAccount": {"id": savings},
    }  # fmt: skip
    balances = await ok(
        client, "query { me { accounts { edges { node { balance { currency formatted } } } } } }",
        {}, user,
    )  # fmt: skip
    assert [edge["node"]["balance"] for edge in balances["me"]["accounts"]["edges"]] == [
        {"currency": "USD", "formatted": "10.00"}, {"currency": "JPY", "formatted": "1234"},
        {"currency": "KWD", "formatted": "1.234"}, {"currency": "USD", "formatted": "2.34"},
    ]  # fmt: skip


async def test_money_movements_answer_from_the_rows_they_wrote_and_replays_read_them_back(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "wes")
    await create_holder(client, user)
    a, b = await open_account(client, user), await open_account(client, user)
    with count_statements(app.state.database.engine) as counter:
        deposited = await move(client, user, "deposit", a, 5_000, idempotency_key="dep-1")
    selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in selects if "FROM transactions" in s], selects
    with count_statements(app.state.database.engine) as counter:
        moved = await transfer(client, user, a, b, 1_200, idempotency_key="move-1")
    fresh_reads = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in fresh_reads if "FROM transfers" in s], fresh_reads
    assert len([s for s in fresh_reads if "FROM accounts" in s]) == 1, fresh_reads  # the lock
    with count_statements(app.state.database.engine) as counter:
        replayed = await transfer(client, user, a, b, 1_200, idempotency_key="move-1")
    assert any("FROM transfers" in s for s in counter.statements)  # nothing written: read back
    assert replayed == moved
    now_a = await ok(client, ACCOUNT, {"id": a}, user)
    now_b = await ok(client, ACCOUNT, {"id": b}, user)
    assert moved["fromAccount"] == now_a["account"]
    assert moved["toAccount"] == now_b["account"]
    assert moved["fromAccount"]["balance"]["amount"] == 3_800
    assert deposited["account"]["balance"]["amount"] == 5_000
    assert deposited["transaction"]["balanceAfter"]["amount"] == 5_000
    assert moved["transfer"]["fromAccount"] == {"id": a}
    assert moved["transfer"]["toAccount"] == {"id": b}
