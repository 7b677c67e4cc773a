"""Every model module is imported here so that `Base.metadata` knows all tables."""

from db.base import Base
from db.models.audit import AuditAction, AuditChainHead, AuditLog, AuditStatus
from db.models.identity import (
    ADMIN_ROLE,
    AuthSession,
    Permission,
    Role,
    RolePermission,
    User,
    UserRole,
)

__all__ = [
    "ADMIN_ROLE",
    "AuditAction",
    "AuditChainHead",
    "AuditLog",
    "AuditStatus",
    "AuthSession",
    "Base",
    "Permission",
    "Role",
    "RolePermission",
    "User",
    "UserRole",
]
