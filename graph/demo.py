"""`ledgerql seed-demo`: demo users with holders, accounts, cards and a few thousand transactions.

Everything goes through the same services as the API (password policy, audit rows, ledger
rules), so the demo data is indistinguishable from real use. Re-running it skips users that exist.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date

from auth.service import AuthService
from core.settings import Settings
from db.errors import BusinessRuleError
from db.models import AccountType, CardType, TransactionType
from db.repositories import identity as identity_repo
from db.services import accounts as account_service
from db.services import cards as card_service
from db.services import ledger as ledger_service
from db.session import Database
from db.unit_of_work import UnitOfWork

DEMO_PASSWORD = "Demo-Ledger-2026!"  # noqa: S105 - documented demo credential, local use only
"""Password of every demo user unless LEDGERQL_DEMO_PASSWORD is set."""
NAMES = [
    ("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"), ("Donald", "Knuth"), ("Frances", "Allen"), ("Ken", "Thompson"),
]  # fmt: skip
ACCOUNTS = [
    (AccountType.CHECKING, "USD"),
    (AccountType.SAVINGS, "USD"),
    (AccountType.CHECKING, "EUR"),
]


@dataclass
class SeedReport:
    """What `seed_demo` created."""

    users: int = 0
    skipped: int = 0
    accounts: int = 0
    cards: int = 0
    movements: int = 0


async def _seed_user(
    database: Database, auth: AuthService, index: int, password: str, *, operations: int
) -> SeedReport:
    card_key = database.settings.card_fingerprint_key()
    report = SeedReport(users=1)
    first, last = NAMES[index % len(NAMES)]
    username = f"demo{index + 1}"
    async with database.unit_of_work() as uow:
        new_user = await auth.credentials.prepare_registration(
            uow, username=username, email=f"{username}@demo.ledgerql.test", password=password,
            full_name=f"{first} {last}",
        )  # fmt: skip
        async with uow.write() as transaction:
            user = await auth.credentials.finish_registration(transaction, new_user)
        uow.actor_id = user.id
        born = date(1960 + index % 40, 1 + index % 12, 1 + index % 28)
        async with uow.write() as transaction:
            await account_service.create_holder(transaction, user.id, first, last, born)
        accounts = []
        for kind, currency in ACCOUNTS:
            async with uow.write() as transaction:
                opened = await account_service.open_account(transaction, user.id, kind, currency)
            accounts.append(opened.id)
        report.accounts = len(accounts)
        async with uow.write() as transaction:
            await card_service.issue(transaction, user.id, accounts[0], CardType.DEBIT, card_key)
        report.cards = 1
        rng = random.Random(index)  # noqa: S311 - demo data, not security
        for account_id in accounts:
            async with uow.write() as transaction:
                await ledger_service.deposit_or_withdraw(
                    transaction, user.id, TransactionType.DEPOSIT, account_id, 500_000,
                    key=f"seed-opening-{account_id}", description="Opening deposit",
                )  # fmt: skip
        for step in range(operations):
            report.movements += await _random_movement(uow, user.id, accounts, rng, step)
    return report


async def _random_movement(
    uow: UnitOfWork, user_id: uuid.UUID, accounts: list[uuid.UUID], rng: random.Random, step: int
) -> int:
    amount = rng.randint(100, 25_000)
    key = f"seed-{user_id}-{step}"
    roll = rng.random()
    try:
        async with uow.write() as transaction:  # one transaction per movement, as in the API
            if roll < 0.4:
                await ledger_service.transfer(
                    transaction, user_id, accounts[0], accounts[1], amount, key=key,
                    description="Savings",
                )  # fmt: skip
            elif roll < 0.7:
                await ledger_service.deposit_or_withdraw(
                    transaction, user_id, TransactionType.DEPOSIT, rng.choice(accounts), amount,
                    key=key, description="Salary" if amount > 20_000 else "Refund",
                )  # fmt: skip
            else:
                await ledger_service.deposit_or_withdraw(
                    transaction, user_id, TransactionType.WITHDRAWAL, rng.choice(accounts),
                    amount, key=key,
                    description=rng.choice(["Groceries", "Rent", "Coffee", "Books", "Travel"]),
                )  # fmt: skip
    except BusinessRuleError:  # e.g. not enough money left: real users see that too
        return 0
    return 1


async def seed_demo(
    settings: Settings, auth: AuthService, *, users: int, operations: int, password: str
) -> SeedReport:
    """Create `users` demo users (demo1, demo2, ...) with `operations` movements each."""
    database = Database(settings)
    total = SeedReport()
    try:
        for index in range(users):
            async with database.unit_of_work() as uow, uow.read() as session:
                exists = await identity_repo.find_by_login(session, f"demo{index + 1}") is not None
            if exists:
                total.skipped += 1
                continue
            report = await _seed_user(database, auth, index, password, operations=operations)
            total.users += report.users
            total.accounts += report.accounts
            total.cards += report.cards
            total.movements += report.movements
    finally:
        await database.dispose()
    return total
