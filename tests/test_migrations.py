"""Migrations run on both databases and agree with the models."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from db.migrations import alembic_config, head_revisions, is_at_head, upgrade_to_head_async
from db.models import Base
from db.session import Database
from tests.conftest import make_settings


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_migrated_database_is_at_head(database: Database) -> None:
    assert await is_at_head(database.engine)
    assert head_revisions() == frozenset({"0007"})


async def test_downgrade_to_base_and_upgrade_again(database: Database, database_url: str) -> None:
    import asyncio

    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert not await is_at_head(database.engine)
    await upgrade_to_head_async(database_url)
    assert await is_at_head(database.engine)


async def test_an_empty_database_is_not_at_head(tmp_path: Path) -> None:
    database = Database(make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db", tmp_path))
    try:
        assert not await is_at_head(database.engine)
    finally:
        await database.dispose()


async def test_the_drift_check_notices_a_model_the_migrations_lack(database: Database) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("unmigrated_table", drifted, Column("id", Integer, primary_key=True))

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, drifted))

    async with database.engine.connect() as connection:
        found = await connection.run_sync(differences)
    assert [(diff[0], diff[1].name) for diff in found] == [("add_table", "unmigrated_table")]  # type: ignore[index]
