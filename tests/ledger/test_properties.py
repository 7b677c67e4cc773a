"""Property tests of the ledger: random histories keep every balance explained and every statement
adding up.

Hypothesis drives the service layer (`db.services.ledger`) directly, for speed. pytest-asyncio runs
each example of an async `@given` test on the test's own event loop, so the function-scoped
`database` fixture is shared by the examples of one test; every example therefore opens fresh
accounts on the test's one holder and looks only at those, which keeps the examples independent.
A failure is reported as generated, without shrinking: shrinking examples that each run dozens of
database transactions would outlast the per-test timeout.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, Phase, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from db.errors import AppError
from db.models import Account, AccountType, LedgerTransaction, TransactionType, Transfer
from db.repositories import statements as statement_repo
from db.services import accounts as account_service
from db.services import ledger as ledger_service
from db.services import statements as statement_service
from db.session import Database
from graph.app import build_auth_service
from tests.support.identity import STRONG_PASSWORD, register_directly
from tests.support.money import in_transaction

EXAMPLES = 25
PROPERTY = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking DB-backed examples outlasts the timeout
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CURRENCIES = ("USD", "EUR", "JPY")
CREDIT_TYPES = {TransactionType.DEPOSIT.value, TransactionType.TRANSFER_IN.value}
HISTORY_START = date(2024, 2, 1)  # the 60 generated days include 29 February
HISTORY_DAYS = 60


@pytest.fixture
async def owner(database: Database) -> uuid.UUID:
    """A registered user with a holder profile; returns the user id."""
    auth = build_auth_service(database.settings)
    async with database.unit_of_work() as uow:
        user = await register_directly(
            auth, uow, "prop", email="prop@example.com", password=STRONG_PASSWORD, full_name=""
        )
        await in_transaction(
            uow, account_service.create_holder, user.id, "Ada", "Lovelace", date(1990, 12, 10)
        )
    return user.id


async def open_accounts(
    database: Database, owner: uuid.UUID, currencies: list[str]
) -> list[uuid.UUID]:
    """Open one fresh, empty account per currency; returns their ids in order."""
    opened = []
    for currency in currencies:
        async with database.unit_of_work(owner) as uow:
            account = await in_transaction(
                uow, account_service.open_account, owner, AccountType.CHECKING, currency
            )
        opened.append(account.id)
    return opened


def signed(line: LedgerTransaction) -> int:
    """A ledger line's effect on its account's balance."""
    return line.amount if line.type in CREDIT_TYPES else -line.amount


# --- invariants 1 and 2: balances are explained by the ledger --------------------------------


@dataclass(frozen=True)
class Operation:
    """One requested movement on the accounts `source` and `source + target` (modulo their number).

    A debit with a `share` asks for that percentage of the source's balance at the time
    (at least 1), so that many debits can succeed; others ask for a fixed `amount`.
    """

    kind: str
    source: int
    target: int
    amount: int
    share: int | None = None


indexes = st.integers(0, 4)
amounts = st.integers(1, 3_000)
shares = st.one_of(st.integers(1, 100), st.none())
deposits = st.builds(Operation, st.just("deposit"), indexes, st.just(0), st.integers(1, 5_000))
withdrawals = st.builds(Operation, st.just("withdraw"), indexes, st.just(0), amounts, shares)
offsets = st.sampled_from([1, 1, 2, 3, 0])  # 0 names the source itself
transfers = st.builds(Operation, st.just("transfer"), indexes, offsets, amounts, shares)
operations = st.one_of(deposits, deposits, withdrawals, transfers, transfers)


@dataclass
class Expected:
    """What the requested operations should have done, tracked without the database."""

    currencies: list[str]
    balances: list[int]
    deposited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    withdrawn: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lines: int = 0
    transfers: int = 0

    def accounts(self, op: Operation) -> tuple[int, int]:
        """The indexes of the operation's source and target accounts."""
        count = len(self.balances)
        return op.source % count, (op.source + op.target) % count

    def resolve(self, op: Operation) -> Operation:
        """The operation with its `share` turned into a fixed amount."""
        if op.share is None:
            return op
        balance = self.balances[op.source % len(self.balances)]
        return replace(op, amount=max(1, balance * op.share // 100), share=None)

    def outcome(self, op: Operation) -> str | None:
        """The error code the operation must fail with, or None if it must succeed."""
        source, target = self.accounts(op)
        if op.kind == "deposit":
            return None
        if op.kind == "transfer" and source == target:
            return "VALIDATION_FAILED"
        if op.kind == "transfer" and self.currencies[source] != self.currencies[target]:
            return "CURRENCY_MISMATCH"
        return "INSUFFICIENT_FUNDS" if self.balances[source] < op.amount else None

    def apply(self, op: Operation) -> None:
        """Record the effect of an operation that succeeded."""
        source, target = self.accounts(op)
        currency = self.currencies[source]
        if op.kind == "deposit":
            self.balances[source] += op.amount
            self.deposited[currency] += op.amount
        elif op.kind == "withdraw":
            self.balances[source] -= op.amount
            self.withdrawn[currency] += op.amount
        else:
            self.balances[source] -= op.amount
            self.balances[target] += op.amount
            self.transfers += 1
        self.lines += 2 if op.kind == "transfer" else 1


async def perform(
    database: Database, owner: uuid.UUID, source: uuid.UUID, target: uuid.UUID, op: Operation
) -> str | None:
    """Run one operation in its own unit of work; returns the error code, None on success."""
    key = str(uuid.uuid4())
    try:
        async with database.unit_of_work(owner) as uow:
            if op.kind == "transfer":
                await in_transaction(
                    uow, ledger_service.transfer, owner, source, target, op.amount, key=key
                )
            else:
                kind = (
                    TransactionType.DEPOSIT if op.kind == "deposit" else TransactionType.WITHDRAWAL
                )
                await in_transaction(
                    uow, ledger_service.deposit_or_withdraw, owner, kind, source, op.amount, key=key
                )
    except AppError as error:
        return error.code
    return None


async def stored(
    database: Database, ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, Account], list[LedgerTransaction], list[Transfer]]:
    """The accounts, their ledger lines (by account and entry) and their transfers."""
    async with database.unit_of_work() as uow, uow.read() as session:
        accounts = (await session.execute(select(Account).where(Account.id.in_(ids)))).scalars()
        lines = await session.execute(
            select(LedgerTransaction)
            .where(LedgerTransaction.account_id.in_(ids))
            .order_by(LedgerTransaction.account_id, LedgerTransaction.entry)
        )
        moved = await session.execute(select(Transfer).where(Transfer.from_account_id.in_(ids)))
        return {row.id: row for row in accounts}, list(lines.scalars()), list(moved.scalars())


def check_account_ledgers(
    accounts: dict[uuid.UUID, Account], lines: list[LedgerTransaction]
) -> None:
    """Each balance is the running sum of its lines, never negative on the way."""
    by_account: dict[uuid.UUID, list[LedgerTransaction]] = defaultdict(list)
    for line in lines:
        by_account[line.account_id].append(line)
    for account_id, account in accounts.items():
        own = by_account[account_id]
        assert [line.entry for line in own] == list(range(1, len(own) + 1))
        assert account.entries == len(own)
        running = 0
        for line in own:
            assert line.amount > 0
            assert line.currency == account.currency
            running += signed(line)
            assert line.balance_after == running >= 0
        assert account.balance == running == sum(signed(line) for line in own)
        assert account.balance == (own[-1].balance_after if own else 0)


def check_transfers(lines: list[LedgerTransaction], transfers: list[Transfer]) -> None:
    """Every transfer is one TRANSFER_OUT on its source and one TRANSFER_IN on its target."""
    legs: dict[uuid.UUID | None, list[LedgerTransaction]] = defaultdict(list)
    for line in lines:
        legs[line.transfer_id].append(line)
    assert {line.type for line in legs[None]} <= {"DEPOSIT", "WITHDRAWAL"}
    assert set(legs) - {None} == {moved.id for moved in transfers}
    for moved in transfers:
        assert len(legs[moved.id]) == 2
        out, into = sorted(legs[moved.id], key=lambda line: line.type, reverse=True)
        assert (out.type, out.account_id) == ("TRANSFER_OUT", moved.from_account_id)
        assert (into.type, into.account_id) == ("TRANSFER_IN", moved.to_account_id)
        assert out.amount == into.amount == moved.amount
        assert out.currency == into.currency == moved.currency


@PROPERTY
@given(
    currencies=st.lists(st.sampled_from(CURRENCIES), max_size=3).map(
        lambda more: ["USD", "USD", *more]
    ),
    funding=st.lists(st.integers(1, 10_000), min_size=5, max_size=5),
    requested=st.lists(operations, min_size=5, max_size=40),
)
async def test_random_movements_keep_every_balance_explained_by_its_transactions(
    database: Database,
    owner: uuid.UUID,
    currencies: list[str],
    funding: list[int],
    requested: list[Operation],
) -> None:
    ids = await open_accounts(database, owner, currencies)
    expected = Expected(currencies, [0] * len(ids))
    opening = [Operation("deposit", index, 0, amount) for index, amount in enumerate(funding)]
    for wanted in [*opening[: len(ids)], *requested]:
        op = expected.resolve(wanted)
        code = expected.outcome(op)
        source, target = expected.accounts(op)
        assert await perform(database, owner, ids[source], ids[target], op) == code, op
        event(f"{op.kind}: {code or 'OK'}")
        if code is None:
            expected.apply(op)

    accounts, lines, transfers = await stored(database, ids)
    assert [accounts[account_id].balance for account_id in ids] == expected.balances
    assert (len(lines), len(transfers)) == (expected.lines, expected.transfers)
    check_account_ledgers(accounts, lines)
    check_transfers(lines, transfers)
    for currency in set(currencies):
        mine = [line for line in lines if line.currency == currency]
        total = sum(
            account.balance for account in accounts.values() if account.currency == currency
        )
        deposits = sum(line.amount for line in mine if line.type == "DEPOSIT")
        withdrawals = sum(line.amount for line in mine if line.type == "WITHDRAWAL")
        assert total == deposits - withdrawals
        assert total == expected.deposited[currency] - expected.withdrawn[currency]
        assert sum(signed(line) for line in mine if line.transfer_id is not None) == 0


# --- invariant 6: statements add up over any period, and consecutive periods chain ------------


def midnight(day: date) -> datetime:
    """The first moment of a UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Posting:
    """A ledger line to post with a chosen timestamp."""

    day: int
    second: int
    microsecond: int
    kind: TransactionType
    amount: int

    @property
    def at(self) -> datetime:
        """When the line was posted."""
        return midnight(HISTORY_START) + timedelta(
            days=self.day, seconds=self.second, microseconds=self.microsecond
        )


FLIPPED = {
    TransactionType.WITHDRAWAL: TransactionType.DEPOSIT,
    TransactionType.TRANSFER_OUT: TransactionType.TRANSFER_IN,
}
"""What a debit the balance cannot cover is posted as instead."""
MIRRORED = {
    TransactionType.TRANSFER_IN: TransactionType.TRANSFER_OUT,
    TransactionType.TRANSFER_OUT: TransactionType.TRANSFER_IN,
}
"""The counterpart leg of a transfer leg."""

postings = st.builds(
    Posting,
    day=st.integers(0, HISTORY_DAYS - 1),
    second=st.one_of(st.sampled_from([0, 86_399]), st.integers(0, 86_399)),
    microsecond=st.sampled_from([0, 999_999, 500_000]),
    kind=st.sampled_from(list(TransactionType)),
    amount=st.integers(1, 10_000),
)


async def post_history(
    database: Database,
    owner: uuid.UUID,
    account_id: uuid.UUID,
    other_id: uuid.UUID,
    history: list[Posting],
) -> list[tuple[datetime, int]]:
    """Insert the history in time order with consistent entries and balances, debits the balance
    cannot cover becoming credits; transfer legs get a Transfer and a mirror leg on `other_id`.

    Returns each posted line's (timestamp, signed amount) on `account_id`.
    """
    posted: list[tuple[datetime, int]] = []
    async with database.unit_of_work(owner) as uow, uow.write() as session:
        account = await session.get(Account, account_id)
        other = await session.get(Account, other_id)
        assert account is not None
        assert other is not None

        def add(
            target: Account,
            kind: TransactionType,
            amount: int,
            at: datetime,
            transfer: uuid.UUID | None,
        ) -> None:
            target.balance += amount if kind.is_credit else -amount
            target.entries += 1
            session.add(
                LedgerTransaction(
                    id=uuid.uuid4(), account_id=target.id, entry=target.entries, type=kind.value,
                    amount=amount, currency=target.currency, balance_after=target.balance,
                    transfer_id=transfer, created_at=at, updated_at=at,
                )
            )  # fmt: skip

        opening = midnight(HISTORY_START) - timedelta(days=30)
        add(other, TransactionType.DEPOSIT, 10**12, opening, None)
        for item in sorted(history, key=lambda posting: posting.at):
            kind = item.kind
            if not kind.is_credit and account.balance < item.amount:
                kind = FLIPPED[kind]
            transfer = None
            if kind in MIRRORED:
                source, target = (other, account) if kind.is_credit else (account, other)
                transfer = uuid.uuid4()
                session.add(
                    Transfer(
                        id=transfer, from_account_id=source.id, to_account_id=target.id,
                        amount=item.amount, currency=account.currency, created_at=item.at,
                        updated_at=item.at,
                    )
                )  # fmt: skip
                await session.flush()
                add(other, MIRRORED[kind], item.amount, item.at, transfer)
            add(account, kind, item.amount, item.at, transfer)
            posted.append((item.at, item.amount if kind.is_credit else -item.amount))
    return posted


@PROPERTY
@given(
    history=st.lists(postings, max_size=30),
    cuts=st.lists(st.integers(-3, HISTORY_DAYS + 3), min_size=2, max_size=6, unique=True).map(
        sorted
    ),
)
async def test_statements_add_up_for_any_period_and_consecutive_periods_chain(
    database: Database, owner: uuid.UUID, history: list[Posting], cuts: list[int]
) -> None:
    account_id, other_id = await open_accounts(database, owner, ["EUR", "EUR"])
    posted = await post_history(database, owner, account_id, other_id, history)

    periods = [
        (HISTORY_START + timedelta(days=first), HISTORY_START + timedelta(days=after - 1))
        for first, after in pairwise(cuts)
    ]
    figures = []
    async with database.unit_of_work(owner) as uow:
        for first_day, last_day in periods:
            start, end = statement_service.statement_period(first_day, last_day)
            assert (start, end) == (midnight(first_day), midnight(last_day + timedelta(days=1)))
            found = await uow.query(statement_repo.period_figures, account_id, start, end)
            figures.append(found)
            inside = [amount for at, amount in posted if start <= at < end]
            assert found.opening == sum(amount for at, amount in posted if at < start)
            assert found.credits == sum(amount for amount in inside if amount > 0)
            assert found.debits == -sum(amount for amount in inside if amount < 0)
            assert found.closing == found.opening + found.credits - found.debits
            assert found.opening >= 0
            assert found.closing >= 0
    for earlier, later in pairwise(figures):
        assert earlier.closing == later.opening
