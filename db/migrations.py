"""Run Alembic migrations programmatically and tell whether a database is at head."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for this project's migrations against `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every pending migration, blocking until done.

    Alembic's env runs its own event loop, so when called from inside a running loop the
    upgrade runs on a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(database_url), "head")
        return
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(command.upgrade, alembic_config(database_url), "head").result()


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The head revision ids of the migration scripts."""
    return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def is_at_head(engine: AsyncEngine) -> bool:
    """Whether the database's recorded revisions are exactly the scripts' heads."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revisions)
    return current == head_revisions()
