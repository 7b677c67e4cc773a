"""Migrations run on both databases and agree with the models."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    insert,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import Connection

from db.base import UTCDateTime, utcnow
from db.migrations import alembic_config, head_revisions, is_at_head, upgrade_to_head
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
    assert head_revisions() == frozenset({"0010"})


async def test_downgrade_to_base_and_upgrade_again(database: Database, database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert not await is_at_head(database.engine)
    await asyncio.to_thread(upgrade_to_head, database_url)
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


def _users_table() -> Table:
    """The users columns as of revision 0005 (before `username_key`)."""
    return Table(
        "users", MetaData(),
        Column("id", Uuid()), Column("username", String()), Column("email", String()),
        Column("password_hash", String()), Column("full_name", String()),
        Column("is_active", Boolean()), Column("failed_login_count", Integer()),
        Column("created_at", UTCDateTime()), Column("updated_at", UTCDateTime()),
        Column("deleted_at", UTCDateTime()),
    )  # fmt: skip


async def _insert_users(database: Database, *rows: tuple[uuid.UUID, str, bool]) -> None:
    now = utcnow()
    values = [
        {"id": user_id, "username": name, "email": f"{user_id.hex}@example.com",
         "password_hash": "x", "full_name": "", "is_active": True, "failed_login_count": 0,
         "created_at": now, "updated_at": now, "deleted_at": now if deleted else None}
        for user_id, name, deleted in rows
    ]  # fmt: skip
    async with database.engine.begin() as connection:
        await connection.execute(insert(_users_table()), values)


async def _revision(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: set(MigrationContext.configure(sync).get_current_heads())
        )


async def test_the_username_key_upgrade_names_live_case_twins_and_changes_nothing(
    database: Database, database_url: str
) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0006")
    twin_a, twin_b, deleted, solo = (uuid.uuid4() for _ in range(4))
    await _insert_users(
        database, (twin_a, "Twin", False), (twin_b, "TWIN", False), (deleted, "twin", True),
        (solo, "solo", False),
    )  # fmt: skip

    with pytest.raises(Exception, match="share a username up to case") as refused:
        await asyncio.to_thread(upgrade_to_head, database_url)
    message = str(refused.value)
    assert f"'Twin' (id {twin_a})" in message
    assert f"'TWIN' (id {twin_b})" in message
    assert str(deleted) not in message  # only live users can collide
    assert str(solo) not in message
    assert "Rename or delete all but one user of each group" in message
    assert await _revision(database) == {"0006"}  # the revision before the username key
    async with database.engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in inspect(sync).get_columns("users")}
        )
    assert "username_key" not in columns

    async with database.engine.begin() as connection:  # the operator renames one twin
        users = _users_table()
        await connection.execute(update(users).where(users.c.id == twin_b).values(username="Twin2"))
    await asyncio.to_thread(upgrade_to_head, database_url)
    assert await is_at_head(database.engine)
    async with database.engine.connect() as connection:
        keys = dict(
            (await connection.execute(text("SELECT username, username_key FROM users"))).all()
        )
    assert keys == {"Twin": "twin", "Twin2": "twin2", "twin": "twin", "solo": "solo"}
