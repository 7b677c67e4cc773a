"""What the preparing steps of the identity flows hand to their writing steps.

The preparing step reads, gives its connection back and hashes; the writing step runs in the
operation's write transaction (see `auth.service.AuthService`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class NewUser:
    """A checked sign-up with its password hashed, ready to be written."""

    username: str
    email: str
    full_name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What a sign-in learnt before writing: who, whether the password matched, any lock.

    `locked_until` is set when the name was locked already; its password was not checked.
    """

    login: str
    key: str
    user_id: uuid.UUID | None
    matches: bool
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """A checked password change: the new hash, or None when the current password was wrong."""

    new_hash: str | None
