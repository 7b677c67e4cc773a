"""Every model module is imported here so that `Base.metadata` knows all tables."""

from db.base import Base
from db.models.accounts import Account, AccountHolder, AccountStatus, AccountType
from db.models.audit import AuditAction, AuditChainHead, AuditLog, AuditStatus
from db.models.cards import Card, CardStatus, CardType
from db.models.identity import (
    ADMIN_ROLE,
    AuthSession,
    LoginThrottle,
    Permission,
    Role,
    RolePermission,
    User,
    UserRole,
)
from db.models.ledger import IdempotencyRecord, LedgerTransaction, TransactionType, Transfer
from db.models.rate_limits import RateLimitCounter

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
