"""`ledgerql seed-demo`: demo users with consistent ledgers, idempotent, refused in production."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.settings import get_settings
from db.models import Account, AuditLog, Card, LedgerTransaction, TransactionType
from db.session import Database
from graph.cli import main
from graph.demo import DEMO_PASSWORD
from tests.conftest import make_settings
from tests.support.identity import login
from tests.support.processes import run_cli, server_env

CREDITS = (TransactionType.DEPOSIT.value, TransactionType.TRANSFER_IN.value)


async def _ledger_is_consistent(database: Database) -> tuple[int, int]:
    """Every balance equals its transactions' credits minus debits; returns (accounts, lines)."""
    async with database.unit_of_work() as uow, uow.read() as session:
        accounts = (await session.execute(select(Account))).scalars().all()
        lines = (await session.execute(select(LedgerTransaction))).scalars().all()
    for account in accounts:
        mine = [line for line in lines if line.account_id == account.id]
        total = sum(line.amount if line.type in CREDITS else -line.amount for line in mine)
        assert account.balance == total >= 0
    return len(accounts), len(lines)


async def test_seed_demo_fills_a_consistent_ledger_once_and_demo_users_can_sign_in(
    database_url: str,
    tmp_path: Path,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in server_env(database_url, tmp_path, BCRYPT_ROUNDS="4").items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        argv = ["seed-demo", "--users", "2", "--operations", "40"]
        assert await asyncio.to_thread(main, argv) == 0
        assert "demo users created: 2" in capsys.readouterr().out
        assert await asyncio.to_thread(main, argv) == 0
        assert "demo users created: 0 (existing, skipped: 2)" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()

    database = Database(make_settings(database_url, tmp_path))
    try:
        accounts, lines = await _ledger_is_consistent(database)
        assert accounts == 6
        assert lines > 2 * 40 // 2
        async with database.unit_of_work() as uow, uow.read() as session:
            cards = (await session.execute(select(func.count()).select_from(Card))).scalar_one()
            audited = (
                await session.execute(
                    select(func.count())
                    .select_from(AuditLog)
                    .where(AuditLog.entity_type == "LedgerTransaction")
                )
            ).scalar_one()
        assert cards == 2
        assert audited == lines  # every posted line has its audit row
    finally:
        await database.dispose()
    body = await login(client, "demo1", DEMO_PASSWORD)
    assert "errors" not in body, body


@pytest.mark.parametrize("backend", ["sqlite"])
def test_seed_demo_refuses_to_run_in_production(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = server_env(database_url, tmp_path, APP_ENV="production", AUDIT_HMAC_KEY="h" * 48)
    result = run_cli(monkeypatch, capsys, env, "seed-demo", "--users", "2", "--operations", "40")
    assert result.returncode == 2
    assert "refuses to run in staging or production" in result.stderr
