"""JWT access and refresh tokens: PyJWT with pinned algorithms, key ids and rotation."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

from core.settings import Settings
from db.base import utcnow
from db.errors import Unauthenticated

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "typ"]
LEEWAY_SECONDS = 5


class TokenType(StrEnum):
    """What a token may be used for."""

    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The verified claims of a token."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    token_id: str
    token_type: TokenType
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed token with its id and lifetime."""

    token: str
    token_id: str
    expires_in: int
    expires_at: datetime


def key_id(secret: str) -> str:
    """A public identifier of a signing key (never the key itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class TokenService:
    """Signs with the current key; verifies with the current and any previous keys."""

    def __init__(self, settings: Settings) -> None:
        current = settings.signing_secret()
        self._signing_kid = key_id(current)
        self._keys = {self._signing_kid: current}
        for previous in settings.jwt_previous_secrets:
            value = previous.get_secret_value()
            self._keys.setdefault(key_id(value), value)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = {
            TokenType.ACCESS: settings.access_token_ttl_seconds,
            TokenType.REFRESH: settings.refresh_token_ttl_seconds,
        }

    def issue(
        self, token_type: TokenType, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> IssuedToken:
        """Sign a new token for a user's session."""
        now = utcnow()
        token_id = secrets.token_urlsafe(24)
        lifetime = self._ttl[token_type]
        expires_at = now + timedelta(seconds=lifetime)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": token_id,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "typ": token_type.value,
        }
        token = jwt.encode(
            claims, self._keys[self._signing_kid], algorithm=ALGORITHM,
            headers={"kid": self._signing_kid},
        )  # fmt: skip
        return IssuedToken(token, token_id, lifetime, expires_at)

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        """Verified claims of a token of the expected type, or UNAUTHENTICATED."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid", "")))
            if key is None or header.get("alg") != ALGORITHM:
                raise Unauthenticated("The token is invalid.")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
            if claims["typ"] != expected.value:
                raise Unauthenticated("The token is of the wrong type.")
            return TokenClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                token_id=str(claims["jti"]),
                token_type=expected,
                expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired.") from None
        except (jwt.PyJWTError, ValueError, KeyError, TypeError, OverflowError, OSError):
            # OverflowError/OSError: a time claim no datetime can hold (e.g. `exp` of 1e308 or
            # Infinity, which Python's JSON decoder accepts).
            raise Unauthenticated("The token is invalid.") from None


def bearer_token(value: object) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; UNAUTHENTICATED if malformed.

    No value (absent, None or empty) is no token: the caller is anonymous.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unauthenticated("The authorization value must be a string.")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use `Authorization: Bearer <access token>`.")
    return token.strip()
