"""The `statement(accountId, from, to)` query: whole UTC days with both ends included, opening +
credits - debits = closing, only the period's transactions (newest first), past periods that stay
put, the period limits, ownership and the READ audit row.

Ledger lines are timestamped when they are posted, so lines in past periods are inserted behind
the application's back (`post_at`), with entry numbers and running balances kept consistent.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import httpx

from db.base import utcnow
from db.models import Account, LedgerTransaction, TransactionType
from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import audit_rows
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.money import MONEY, balance, codes, create_holder, move, open_account, transfer

STATEMENT = f"""
query($id: ID!, $from: Date!, $to: Date!) {{
  statement(accountId: $id, from: $from, to: $to) {{
    account {{ id }} from to
    openingBalance {{ {MONEY} }} closingBalance {{ {MONEY} }}
    totalCredits {{ {MONEY} }} totalDebits {{ {MONEY} }}
    transactions(first: 100) {{
      totalCount
      edges {{
        node {{ id type description amount {{ amount }} balanceAfter {{ amount }} createdAt }}
      }}
    }}
  }}
}}
"""
STATEMENT_PAGE = """
query($id: ID!, $from: Date!, $to: Date!, $after: String) {
  statement(accountId: $id, from: $from, to: $to) {
    transactions(first: 3, after: $after) {
      edges { node { description } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
DEPOSIT, WITHDRAWAL = TransactionType.DEPOSIT, TransactionType.WITHDRAWAL
DAY = date(2025, 3, 14)


def account_uuid(global_id: str) -> uuid.UUID:
    """The UUID inside an `Account:<uuid>` global id."""
    type_name, _, raw = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Account"
    return uuid.UUID(raw)


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment of a UTC day."""
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=UTC)


async def post_at(
    database: Database, account_gid: str, postings: list[tuple[datetime, TransactionType, int]]
) -> None:
    """Post deposits and withdrawals with chosen timestamps (in time order, after the account's
    existing lines), keeping entries and balances consistent; each line's description is the
    amount."""
    async with database.unit_of_work() as uow, uow.write() as session:
        account = await session.get(Account, account_uuid(account_gid))
        assert account is not None
        for moment, kind, amount in sorted(postings, key=lambda posting: posting[0]):
            account.balance += amount if kind.is_credit else -amount
            assert account.balance >= 0
            account.entries += 1
            session.add(
                LedgerTransaction(
                    id=uuid.uuid4(), account_id=account.id, entry=account.entries, type=kind.value,
                    amount=amount, currency=account.currency, balance_after=account.balance,
                    description=str(amount), created_at=moment, updated_at=moment,
                )
            )  # fmt: skip


async def statement_body(
    client: httpx.AsyncClient, user: SignedIn, account_id: str, first: date, last: date
) -> dict[str, Any]:
    """The whole response to a `statement` query."""
    variables = {"id": account_id, "from": first.isoformat(), "to": last.isoformat()}
    return await gql(client, STATEMENT, variables, token=user.access_token)


async def statement(
    client: httpx.AsyncClient, user: SignedIn, account_id: str, first: date, last: date
) -> dict[str, Any]:
    """A statement that must be returned without errors."""
    body = await statement_body(client, user, account_id, first, last)
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["statement"]
    return found


def figures(found: dict[str, Any]) -> tuple[int, int, int, int]:
    """Opening balance, credits, debits and closing balance of a statement."""
    names = ("openingBalance", "totalCredits", "totalDebits", "closingBalance")
    opening, credits, debits, closing = (found[name]["amount"] for name in names)
    assert closing == opening + credits - debits, found
    return opening, credits, debits, closing


def listed(found: dict[str, Any]) -> list[str]:
    """The descriptions of a statement's transactions, in the order listed."""
    return [edge["node"]["description"] for edge in found["transactions"]["edges"]]


async def ann_with_account(
    client: httpx.AsyncClient, currency: str = "USD"
) -> tuple[SignedIn, str]:
    """A signed-in user with a holder profile and one empty account."""
    ann = await signed_in(client, "ann")
    await create_holder(client, ann)
    return ann, await open_account(client, ann, currency)


async def test_a_statement_of_real_activity_adds_up(client: httpx.AsyncClient) -> None:
    ann, spending = await ann_with_account(client)
    savings = await open_account(client, ann)
    assert (await move(client, ann, "deposit", spending, 10_000))["errors"] == []
    assert (await move(client, ann, "withdraw", spending, 2_500))["errors"] == []
    assert codes(await move(client, ann, "withdraw", spending, 99_999)) == ["INSUFFICIENT_FUNDS"]
    assert (await transfer(client, ann, spending, savings, 3_000))["errors"] == []
    assert (await move(client, ann, "withdraw", savings, 500))["errors"] == []
    assert (await move(client, ann, "deposit", savings, 205))["errors"] == []
    today = utcnow().date()
    around_today = (today - timedelta(days=1), today + timedelta(days=1))

    found = await statement(client, ann, spending, *around_today)
    assert figures(found) == (0, 10_000, 5_500, 4_500)
    assert found["closingBalance"] == {"amount": 4_500, "currency": "USD", "formatted": "45.00"}
    assert (found["from"], found["to"]) == (
        around_today[0].isoformat(),
        around_today[1].isoformat(),
    )
    assert [edge["node"]["type"] for edge in found["transactions"]["edges"]] == [
        "TRANSFER_OUT", "WITHDRAWAL", "DEPOSIT",
    ]  # fmt: skip
    assert figures(await statement(client, ann, savings, *around_today)) == (0, 3_205, 500, 2_705)
    assert await balance(client, ann, savings) == 2_705

    earlier = (today - timedelta(days=10), today - timedelta(days=2))
    assert figures(await statement(client, ann, spending, *earlier)) == (0, 0, 0, 0)
    later = today + timedelta(days=2)
    assert figures(await statement(client, ann, spending, later, later)) == (4_500, 0, 0, 4_500)


async def test_from_after_to_is_a_validation_error(client: httpx.AsyncClient) -> None:
    ann, account = await ann_with_account(client)
    body = await statement_body(client, ann, account, DAY, DAY - timedelta(days=1))
    assert_top_level(body, "VALIDATION_FAILED", 422)
    assert body["data"] is None


async def test_a_statement_spans_at_most_366_days(client: httpx.AsyncClient) -> None:
    ann, account = await ann_with_account(client)
    for first, last in [
        (date(2024, 1, 1), date(2024, 12, 31)),
        (date(2023, 1, 1), date(2024, 1, 1)),
    ]:
        assert (last - first).days + 1 == 366
        assert figures(await statement(client, ann, account, first, last)) == (0, 0, 0, 0)
    for first, last in [(date(2024, 1, 1), date(2025, 1, 1)), (date(2020, 1, 1), date(2025, 1, 1))]:
        body = await statement_body(client, ann, account, first, last)
        assert_top_level(body, "VALIDATION_FAILED", 422)
        assert body["data"] is None


async def test_the_period_is_whole_utc_days_with_both_ends_included(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann, account = await ann_with_account(client)
    before = DAY - timedelta(days=1)
    after = DAY + timedelta(days=1)
    early_morning_east_of_utc = datetime.combine(
        DAY, time(1, 30), tzinfo=timezone(timedelta(hours=2))
    )
    await post_at(database, account, [
        (at(before, 23, 59, 59, 999_999), DEPOSIT, 1),
        (early_morning_east_of_utc, DEPOSIT, 2),  # 23:30 UTC the day before
        (at(DAY), DEPOSIT, 10),
        (at(DAY, 12), WITHDRAWAL, 3),
        (at(DAY, 23, 59, 59, 999_999), DEPOSIT, 100),
        (at(after), DEPOSIT, 1_000),
    ])  # fmt: skip

    one_day = await statement(client, ann, account, DAY, DAY)
    assert figures(one_day) == (3, 110, 3, 110)
    assert listed(one_day) == ["100", "3", "10"]
    three_days = await statement(client, ann, account, before, after)
    assert figures(three_days) == (0, 1_113, 3, 1_110)
    assert listed(three_days) == ["1000", "100", "3", "10", "1", "2"]
    assert figures(await statement(client, ann, account, after, after)) == (110, 1_000, 0, 1_110)


async def test_statement_transactions_are_the_periods_only_newest_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann, account = await ann_with_account(client)
    days = [DAY + timedelta(days=offset) for offset in range(6)]
    await post_at(database, account, [
        (at(day, hour), DEPOSIT, 100 * offset + hour)
        for offset, day in enumerate(days) for hour in (9, 17)
    ])  # fmt: skip
    assert (await move(client, ann, "deposit", account, 7))["errors"] == []

    found = await statement(client, ann, account, days[2], days[3])
    assert listed(found) == ["317", "309", "217", "209"]
    assert found["transactions"]["totalCount"] == 4
    nodes = [edge["node"] for edge in found["transactions"]["edges"]]
    moments = [datetime.fromisoformat(node["createdAt"]) for node in nodes]
    assert moments == sorted(moments, reverse=True)
    assert all(at(days[2]) <= moment < at(days[4]) for moment in moments)
    assert figures(found) == (252, 1_052, 0, 1_304)
    assert nodes[0]["balanceAfter"]["amount"] == found["closingBalance"]["amount"]

    pages, after = [], None
    period = {"id": account, "from": days[1].isoformat(), "to": days[4].isoformat()}
    while True:
        body = await gql(client, STATEMENT_PAGE, {**period, "after": after}, ann.access_token)
        connection = body["data"]["statement"]["transactions"]
        pages.append([edge["node"]["description"] for edge in connection["edges"]])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert pages == [["417", "409", "317"], ["309", "217", "209"], ["117", "109"]]


async def test_a_past_statement_does_not_change_when_money_moves_today(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann, account = await ann_with_account(client)
    other = await open_account(client, ann)
    await post_at(database, account, [
        (at(DAY, 8), DEPOSIT, 5_000), (at(DAY, 9), WITHDRAWAL, 1_200),
        (at(DAY + timedelta(days=3), 10), DEPOSIT, 800),
    ])  # fmt: skip
    past = (DAY, DAY + timedelta(days=3))
    before = await statement(client, ann, account, *past)
    assert figures(before) == (0, 5_800, 1_200, 4_600)

    assert (await move(client, ann, "deposit", account, 1_000))["errors"] == []
    assert (await move(client, ann, "withdraw", account, 300))["errors"] == []
    assert (await transfer(client, ann, account, other, 2_000))["errors"] == []
    assert (await transfer(client, ann, other, account, 500))["errors"] == []

    assert await statement(client, ann, account, *past) == before
    today = utcnow().date()
    around_today = (today - timedelta(days=1), today + timedelta(days=1))
    since = await statement(client, ann, account, *around_today)
    assert figures(since) == (4_600, 1_500, 2_300, 3_800)
    assert await balance(client, ann, account) == 3_800


async def test_a_statement_of_another_users_account_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann, account = await ann_with_account(client)
    assert (await move(client, ann, "deposit", account, 1_000))["errors"] == []
    bob = await signed_in(client, "bob")
    await create_holder(client, bob, "Bob")
    body = await statement_body(client, bob, account, DAY, DAY)
    error = assert_top_level(body, "NOT_FOUND", 404)
    assert "1000" not in str(error)
    assert body["data"] is None
    assert await audit_rows(database, entity_type="Statement", status="SUCCESS") == []


async def test_reading_a_statement_is_audited_as_a_read(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann, account = await ann_with_account(client)
    await statement(client, ann, account, DAY, DAY + timedelta(days=30))
    [row] = await audit_rows(database, entity_type="Statement")
    assert (row["action"], row["status"], row["user_id"]) == ("READ", "SUCCESS", ann.user_id)
    assert row["entity_id"] == str(account_uuid(account))
    assert row["extra"] == {"start": "2025-03-14", "end": "2025-04-13"}
