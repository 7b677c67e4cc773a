"""Every permission a role can grant. Checks name a member, never a string."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """A permission; its value is the name stored in the `permissions` table."""

    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    ROLES_READ = "roles:read"
    ROLES_WRITE = "roles:write"
    SESSIONS_READ = "sessions:read"
    HOLDERS_READ = "holders:read"
    ACCOUNTS_READ = "accounts:read"
    AUDIT_READ = "audit:read"
