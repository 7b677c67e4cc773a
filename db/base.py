"""Declarative base, naming convention, column types and the mixins every table carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, DateTime, Dialect, MetaData, Uuid, event
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INCLUDE_DELETED = "include_deleted"
"""Execution option that turns off the soft-delete filter for one statement."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and normalise aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime given to a UTCDateTime column"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to values read back without an offset."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ModelT = TypeVar("ModelT", bound="Base")


def columns_of(model: type[Base]) -> dict[str, ColumnElement[Any]]:
    """Each loaded attribute of a model and the SQL expression behind it (column properties too)."""
    return {prop.key: prop.columns[0] for prop in model.__mapper__.column_attrs}


class Base(DeclarativeBase):
    """Root of every model: naming convention and the UTC/UUID type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class UUIDPrimaryKey:
    """A random UUID primary key: ids are never guessable or sequential."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    """`created_at` and `updated_at`, maintained by the ORM in UTC."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActorStamps:
    """`created_by` and `updated_by`: the user whose request wrote the row (None for the system)."""

    @declared_attr
    def created_by(cls) -> Mapped[uuid.UUID | None]:  # noqa: N805
        """The id of the user who created the row."""
        return mapped_column(Uuid(), nullable=True)

    @declared_attr
    def updated_by(cls) -> Mapped[uuid.UUID | None]:  # noqa: N805
        """The id of the user who last changed the row."""
        return mapped_column(Uuid(), nullable=True)


class SoftDelete:
    """`deleted_at`: a deleted row stays, hidden from default queries."""

    deleted_at: Mapped[datetime | None] = mapped_column(default=None, index=False)

    def soft_delete(self, at: datetime | None = None) -> None:
        """Mark the row deleted; it disappears from default queries."""
        self.deleted_at = at or utcnow()


class Entity(UUIDPrimaryKey, Timestamps, ActorStamps, SoftDelete):
    """The full set of columns every LedgerQL table carries, and how changes to it are audited.

    `audited`: whether creates, updates and deletes write audit rows automatically.
    `audit_quiet`: columns left out of audit values; a change to them alone records nothing.
    `audit_permission_fields`: columns whose change is a PERMISSION_CHANGE.
    `audit_grant`: rows that grant something (creating or deleting one is a PERMISSION_CHANGE).
    """

    audited: ClassVar[bool] = True
    audit_quiet: ClassVar[frozenset[str]] = frozenset()
    audit_permission_fields: ClassVar[frozenset[str]] = frozenset()
    audit_grant: ClassVar[bool] = False


ACTOR_KEY = "actor_id"
"""Key in `Session.info` holding the id of the user on whose behalf the session writes."""


class AppSession(Session):
    """The ORM session class behind every AsyncSession: adds soft-delete and actor stamping."""


_LIVE_ROWS_ONLY = with_loader_criteria(
    SoftDelete, lambda cls: cls.deleted_at.is_(None), include_aliases=True
)
"""Built once: constructing the criteria option on every statement was ~5% of a small query."""


@event.listens_for(AppSession, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get(INCLUDE_DELETED, False)
    ):
        state.statement = state.statement.options(_LIVE_ROWS_ONLY)


@event.listens_for(AppSession, "before_flush")
def _stamp_actor(session: Session, _flush_context: object, _instances: object) -> None:
    actor = session.info.get(ACTOR_KEY)
    if actor is None:
        return
    for obj in session.new:
        if isinstance(obj, ActorStamps):
            obj.created_by = obj.created_by or actor
            obj.updated_by = obj.updated_by or actor
    for obj in session.dirty:
        if isinstance(obj, ActorStamps) and session.is_modified(obj):
            obj.updated_by = actor
