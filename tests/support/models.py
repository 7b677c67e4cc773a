"""A test-only table built from the production mixins, on its own metadata.

It lives outside `db.models.Base.metadata`, so the migrations-versus-models check is unaffected.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import MetaData, String, Uuid
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.base import NAMING_CONVENTION, Entity, UTCDateTime


class TestBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class Widget(Entity, TestBase):
    __tablename__ = "test_widgets"

    name: Mapped[str] = mapped_column(String(50))
    counter: Mapped[int] = mapped_column(default=0)
    owner: Mapped[str] = mapped_column(String(50), default="alice")


async def create_test_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(TestBase.metadata.create_all)
