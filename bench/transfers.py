"""W5's checks: every balance equals the sum of its ledger lines, and how many transfers exist."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings
from db.models import Account, Transfer
from db.session import Database
from tests.support.money_load import ledger


def global_id(type_name: str, raw: object) -> str:
    """The opaque global id of an object."""
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


async def ledger_state(database_url: str) -> tuple[bool, int, int]:
    """(every account consistent, total money, number of transfers), read through SQL."""
    database = Database(Settings(_env_file=None, database_url=database_url, app_env="test"))
    try:
        async with database.unit_of_work() as uow, uow.read() as session:
            ids = list((await session.execute(select(Account.id))).scalars())
            transfers = (
                await session.execute(select(func.count()).select_from(Transfer))
            ).scalar_one()
        ledgers = [await ledger(database, global_id("Account", raw)) for raw in ids]
    finally:
        await database.dispose()
    consistent = all(item.consistent for item in ledgers)
    return consistent, sum(item.balance for item in ledgers), int(transfers)
