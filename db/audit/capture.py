"""Turns ORM flushes into audit entries: creates, updates (changed fields only) and deletes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from db.audit.entries import SECRET_FIELDS, AuditEntry, json_safe, record
from db.base import ACTOR_KEY, AppSession, Entity
from db.models.audit import AuditAction

BOOKKEEPING = frozenset({"created_at", "updated_at", "created_by", "updated_by"})


def _silent(model: type[Entity]) -> frozenset[str]:
    return BOOKKEEPING | SECRET_FIELDS | model.audit_quiet


def _values(obj: Entity) -> dict[str, Any]:
    state = inspect(obj)
    silent = _silent(type(obj))
    return {  # state.dict: only what is loaded; an after_flush hook must not trigger loads
        column.key: json_safe(state.dict.get(column.key))
        for column in state.mapper.column_attrs
        if column.key not in silent and column.key in state.dict
    }


def _changes(obj: Entity) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    silent = _silent(type(obj))
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for column in state.mapper.column_attrs:
        if column.key in silent:
            continue
        history = state.attrs[column.key].history
        if not history.added:
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0]
        if before != after:
            old[column.key], new[column.key] = json_safe(before), json_safe(after)
    return old, new


def _entry(obj: Entity, action: AuditAction, **values: Any) -> AuditEntry:
    return AuditEntry(
        action=action, entity_type=type(obj).__name__, entity_id=str(obj.id), **values
    )


def _created(obj: Entity) -> AuditEntry:
    action = AuditAction.PERMISSION_CHANGE if obj.audit_grant else AuditAction.CREATE
    description = "granted" if obj.audit_grant else "created"
    return _entry(obj, action, new_values=_values(obj), description=description)


def _updated(obj: Entity) -> AuditEntry | None:
    old, new = _changes(obj)
    if not new:
        return None
    if "deleted_at" in new and new["deleted_at"] is not None:
        action = AuditAction.PERMISSION_CHANGE if obj.audit_grant else AuditAction.DELETE
        description = "revoked" if obj.audit_grant else "deleted"
    elif obj.audit_permission_fields & new.keys():
        action, description = AuditAction.PERMISSION_CHANGE, "access changed"
    else:
        action, description = AuditAction.UPDATE, "updated"
    return _entry(obj, action, old_values=old, new_values=new, description=description)


@event.listens_for(AppSession, "after_flush")
def _capture(session: Session, _flush_context: object) -> None:
    """Queue an entry for each audited row this flush created, changed or deleted."""
    actor = session.info.get(ACTOR_KEY)
    entries: list[AuditEntry] = []
    for obj in session.new:
        if isinstance(obj, Entity) and obj.audited:
            entries.append(_created(obj))
    for obj in session.dirty:
        if isinstance(obj, Entity) and obj.audited:
            entry = _updated(obj)
            if entry is not None:
                entries.append(entry)
    for obj in session.deleted:
        if isinstance(obj, Entity) and obj.audited:
            entries.append(
                _entry(obj, AuditAction.DELETE, old_values=_values(obj), description="purged")
            )
    for entry in entries:
        entry.user_id = actor
        record(session, entry)
