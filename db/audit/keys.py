"""The audit trail's HMAC keys: the current one signs, retired ones still verify, by key id.

The keys come from settings (AUDIT_HMAC_KEY, AUDIT_HMAC_PREVIOUS_KEYS) and never enter the
database; each row stores only the id of the key that signed it, a short hash of the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

KEY_ID_LENGTH = 16


def key_id(key: bytes) -> str:
    """The public id of a key: the first 16 hex digits of SHA-256 over a label and the key."""
    return hashlib.sha256(b"ledgerql audit key id\n" + key).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The signing key, every key that may still verify (by key id), and the unkeyed prefix.

    `legacy_until` is the last sequence that may carry an unkeyed hash (rows written before
    keyed hashing); it comes from settings, not the database, so an insider cannot extend it.
    """

    current: bytes
    by_id: dict[str, bytes] = field(default_factory=dict)
    legacy_until: int = 0

    @classmethod
    def of(
        cls, current: bytes, previous: Iterable[bytes] = (), *, legacy_until: int = 0
    ) -> AuditKeys:
        """A key ring from the current key and the retired ones."""
        keys = {key_id(key): key for key in previous}
        keys[key_id(current)] = current
        return cls(current=current, by_id=keys, legacy_until=legacy_until)

    @property
    def current_id(self) -> str:
        """The id stored with every row the current key signs."""
        return key_id(self.current)

    def get(self, kid: str) -> bytes | None:
        """The key with this id, or None when it is not configured (any more)."""
        return self.by_id.get(kid)

    def sign(self, message: bytes) -> str:
        """HMAC-SHA256 of a message under the current key (hex)."""
        return hmac.new(self.current, message, hashlib.sha256).hexdigest()

    def mac(self, kid: str, message: bytes) -> str | None:
        """HMAC-SHA256 of a message under the key `kid` (hex); None for an unknown key."""
        key = self.get(kid)
        if key is None:
            return None
        return hmac.new(key, message, hashlib.sha256).hexdigest()
