"""Every model module is imported here so that `Base.metadata` knows all tables."""

from db.base import Base
from db.models.audit import AuditAction, AuditChainHead, AuditLog, AuditStatus
from db.models.banking import (
    Account,
    AccountHolder,
    AccountStatus,
    AccountType,
    Card,
    CardStatus,
    CardType,
    IdempotencyRecord,
    LedgerTransaction,
    TransactionType,
    Transfer,
)
from db.models.identity import (
    ADMIN_ROLE,
    AuthSession,
    Permission,
    Role,
    RolePermission,
    User,
    UserRole,
)
from db.models.limits import LoginThrottle, RateLimitCounter

__all__ = [
    "ADMIN_ROLE",
    "Account",
    "AccountHolder",
    "AccountStatus",
    "AccountType",
    "AuditAction",
    "AuditChainHead",
    "AuditLog",
    "AuditStatus",
    "AuthSession",
    "Base",
    "Card",
    "CardStatus",
    "CardType",
    "IdempotencyRecord",
    "LedgerTransaction",
    "LoginThrottle",
    "Permission",
    "RateLimitCounter",
    "Role",
    "RolePermission",
    "TransactionType",
    "Transfer",
    "User",
    "UserRole",
]
