"""Sign-in, token refresh with rotation, sign-out, sessions and the caller of a token.

Errors name fields in the domain's words (`new_password`, `session_id`); the GraphQL layer maps
them to the paths of the input fields the client sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from auth.credentials import Credentials
from auth.passwords import PasswordHasher
from auth.principal import Principal
from auth.token_failures import TokenFailureTally
from auth.tokens import IssuedToken, TokenClaims, TokenService, TokenType
from core.settings import Settings
from db.audit.entries import AuditEntry, record, user_event
from db.base import utcnow
from db.errors import AccountLocked, CommitThenFail, InvalidCredentials, NotFound, Unauthenticated
from db.models import AuditAction, AuditStatus, AuthSession, User
from db.records.identity import UserRecord
from db.repositories import identity as identity_repo
from db.unit_of_work import Transaction, UnitOfWork


@dataclass(frozen=True, slots=True)
class Device:
    """Where a sign-in comes from."""

    user_agent: str
    ip_address: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a successful sign-in or refresh hands to the client."""

    access: IssuedToken
    refresh: IssuedToken
    user_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an access token authenticates: the principal, its user record and the token's expiry.

    `data_version`: the user's data version as authentication read it (the response cache's key).
    """

    principal: Principal
    user: UserRecord
    expires_at: datetime
    data_version: int = 0


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


class SessionState(Protocol):
    """What deciding whether a session may act reads of it (a record or a row)."""

    @property
    def revoked_at(self) -> datetime | None: ...  # noqa: D102
    @property
    def expires_at(self) -> datetime: ...  # noqa: D102


class UserState(Protocol):
    """What deciding whether a session may act reads of its user (a record or a row)."""

    @property
    def is_active(self) -> bool: ...  # noqa: D102
    @property
    def deleted_at(self) -> datetime | None: ...  # noqa: D102


def session_usable(auth_session: SessionState, user: UserState, now: datetime) -> bool:
    """Whether a session may still act: live, unexpired, and its user active and not deleted.

    A sign-in lock is not checked: it only stops new password sign-ins, so that whoever knows
    a username cannot end its owner's sessions by failing on purpose.
    """
    return (
        auth_session.revoked_at is None
        and auth_session.expires_at > now
        and user.is_active
        and user.deleted_at is None
    )


class AuthService:
    """Identity use-cases.

    Password hashing is slow, so the flows that need it come in two steps: a preparing step
    (`prepare_*`) reads on the operation's snapshot, gives the connection back and hashes,
    holding no connection; a writing step (`finish_*`) then runs in the operation's write
    transaction. Writing steps flush and never commit; a failure whose effects must persist (a
    counted sign-in, a refused refresh) is raised as `CommitThenFail`.
    """

    def __init__(self, settings: Settings, hasher: PasswordHasher, tokens: TokenService) -> None:
        self.settings = settings
        self.hasher = hasher
        self.tokens = tokens
        self.token_failures = TokenFailureTally()
        self.credentials = Credentials(hasher)

    async def prepare_login(self, uow: UnitOfWork, login: str, password: str) -> LoginAttempt:
        """Read who `login` names and any lock on it, give the connection back, then hash.

        Failures and locks are counted per canonical sign-in name, whether an account has it
        or not, so an unknown name answers exactly like a real one (a dummy hash stands in for
        its password). A name locked already is not hashed for at all.
        """
        key = identity_repo.login_key(login)
        async with uow.read() as session:
            found = await identity_repo.find_by_login(session, login)
            user_id, stored_hash = (found.id, found.password_hash) if found else (None, None)
            lock_ends = await identity_repo.sign_in_locked_until(session, key)
        await uow.close()  # give the connection back before the slow part
        if lock_ends is not None and lock_ends > utcnow():
            return LoginAttempt(login, key, user_id, matches=False, locked_until=lock_ends)
        matches = await self.hasher.verify(password, stored_hash)
        return LoginAttempt(login, key, user_id, matches=matches, locked_until=None)

    async def finish_login(
        self, transaction: Transaction, attempt: LoginAttempt, device: Device
    ) -> TokenPair:
        """Apply the attempt's outcome: open a session, or count the failure and refuse.

        Refusals (INVALID_CREDENTIALS, ACCOUNT_LOCKED) are raised as `CommitThenFail`, so the
        failure counts, locks and audit rows are committed before the error reaches the client.
        """
        now = utcnow()
        if attempt.locked_until is not None:
            record(transaction, login_failed(attempt.user_id, attempt.login, "account locked"))
            raise CommitThenFail(AccountLocked(_seconds_between(now, attempt.locked_until)))
        # The user row is locked before the throttle row, always: a throttle row that a
        # concurrent failure creates meanwhile is locked second by every attempt (no deadlock).
        user = (
            await identity_repo.get_user(transaction, attempt.user_id, for_update=True)
            if attempt.user_id
            else None
        )
        throttle = await identity_repo.sign_in_throttle_for_update(transaction, attempt.key)
        if throttle is not None and throttle.locked_until and throttle.locked_until > now:
            # Locked while this attempt was hashing: the lock wins over the right password.
            record(transaction, login_failed(attempt.user_id, attempt.login, "account locked"))
            raise CommitThenFail(AccountLocked(_seconds_between(now, throttle.locked_until)))
        if user is None or not attempt.matches:
            await self._record_failure(transaction, attempt.key, user, attempt.login, now)
            raise CommitThenFail(InvalidCredentials())
        if not user.is_active:
            record(transaction, login_failed(user.id, attempt.login, "account deactivated"))
            raise CommitThenFail(InvalidCredentials())
        await identity_repo.forget_sign_in_failures(transaction, [attempt.key])
        user.failed_login_count, user.locked_until, user.last_login_at = 0, None, now
        pair = self._open_session(transaction, user, device, now)
        record(transaction, user_event(AuditAction.LOGIN, user.id, session_id=pair.session_id))
        await transaction.flush()
        return pair

    async def _record_failure(
        self, transaction: Transaction, key: str, user: User | None, login: str, now: datetime
    ) -> None:
        """Count a failure under `key`; the account row mirrors it for operators."""
        throttle, newly_locked = await identity_repo.record_sign_in_failure(
            transaction, key, now=now, max_failures=self.settings.login_max_failures,
            lockout=timedelta(seconds=self.settings.login_lockout_seconds),
        )  # fmt: skip
        user_id = user.id if user else None
        reason = "wrong password" if user else "unknown user"
        record(transaction, login_failed(user_id, login, reason))
        if user is not None:
            user.failed_login_count, user.locked_until = throttle.failures, throttle.locked_until
        if newly_locked:
            unknown = {} if user else {"attempted_login": login[:254]}
            record(
                transaction,
                user_event(
                    AuditAction.ACCOUNT_LOCKED, user_id, status=AuditStatus.FAILURE,
                    description=f"locked after {throttle.failures} failed logins",
                    locked_until=throttle.locked_until, **unknown,
                ),
            )  # fmt: skip

    def _open_session(
        self, transaction: Transaction, user: User, device: Device, now: datetime
    ) -> TokenPair:
        session_id = uuid.uuid4()
        refresh = self.tokens.issue(TokenType.REFRESH, user.id, session_id)
        access = self.tokens.issue(TokenType.ACCESS, user.id, session_id)
        transaction.add(
            AuthSession(
                id=session_id, user_id=user.id, refresh_jti=refresh.token_id,
                user_agent=device.user_agent[:512], ip_address=device.ip_address[:64],
                last_used_at=now, expires_at=refresh.expires_at,
                created_by=user.id, updated_by=user.id,
            )
        )  # fmt: skip
        return TokenPair(access=access, refresh=refresh, user_id=user.id, session_id=session_id)

    def refresh_claims(self, refresh_token: str) -> TokenClaims:
        """The claims of a refresh token, checked before any transaction; UNAUTHENTICATED."""
        return self.tokens.verify(refresh_token, TokenType.REFRESH)

    async def refresh(self, transaction: Transaction, claims: TokenClaims) -> TokenPair:
        """Rotate a refresh token; presenting a spent one revokes its whole session family.

        A refusal revokes the session and records why before UNAUTHENTICATED is raised, both
        committed (`CommitThenFail`).
        """
        now = utcnow()
        new_refresh = self.tokens.issue(TokenType.REFRESH, claims.user_id, claims.session_id)
        found = await identity_repo.session_with_user(transaction, claims.session_id)
        rotated = await identity_repo.rotate_session(
            transaction, claims.session_id, old_jti=claims.token_id,
            new_jti=new_refresh.token_id, now=now, expires_at=new_refresh.expires_at,
        )  # fmt: skip
        if not (rotated and found is not None and session_usable(*found, now)):
            reason = "refresh_token_reuse" if not rotated else "refresh_refused"
            await identity_repo.revoke_sessions(
                transaction, user_id=claims.user_id, session_ids=[claims.session_id],
                now=now, reason=reason,
            )  # fmt: skip
            if not rotated:
                entry = user_event(
                    AuditAction.TOKEN_REUSE, claims.user_id, status=AuditStatus.FAILURE,
                    description="a spent refresh token was presented; session revoked",
                    session_id=claims.session_id,
                )  # fmt: skip
            else:
                entry = refresh_failed(claims.user_id, claims.session_id, "session ended")
            record(transaction, entry)
            raise CommitThenFail(Unauthenticated("The refresh token is no longer valid."))
        record(
            transaction,
            user_event(AuditAction.TOKEN_REFRESH, claims.user_id, session_id=claims.session_id),
        )
        access = self.tokens.issue(TokenType.ACCESS, claims.user_id, claims.session_id)
        return TokenPair(access, new_refresh, claims.user_id, claims.session_id)

    async def authenticate(self, uow: UnitOfWork, access_token: str) -> Caller:
        """The caller behind an access token; UNAUTHENTICATED unless its session is live.

        The one place an access token is checked: every operation (HTTP and WebSocket), a
        WebSocket's `connection_init` and its guard's re-checks, and the sign-in of `login`.
        It verifies the token, then reads its session, user and permissions in one statement:
        the first of the operation's snapshot, on the connection its reads share.
        """
        claims = self.tokens.verify(access_token, TokenType.ACCESS)
        found = await uow.query_core(identity_repo.caller, claims.session_id)
        if found is None:
            raise Unauthenticated("The session has ended.")
        auth_session, user, permissions = found
        if user.id != claims.user_id or not session_usable(auth_session, user, utcnow()):
            raise Unauthenticated("The session has ended.")
        principal = Principal(
            user_id=user.id, session_id=claims.session_id, username=user.username,
            permissions=permissions, is_admin=user.is_admin,
        )  # fmt: skip
        return Caller(
            principal=principal, user=user, expires_at=claims.expires_at,
            data_version=user.data_version,
        )  # fmt: skip

    def refresh_session(self, refresh_token: str) -> uuid.UUID | None:
        """The session a refresh token of ours names (to key its rate limit), else None.

        Only the signature and claims are checked, not the session: `refresh` does that.
        """
        try:
            return self.tokens.verify(refresh_token, TokenType.REFRESH).session_id
        except Unauthenticated:
            return None

    async def logout(
        self, transaction: Transaction, principal: Principal, *, all_sessions: bool
    ) -> int:
        """Revoke the current session, or every session of the user; returns how many."""
        revoked = await identity_repo.revoke_sessions(
            transaction, user_id=principal.user_id, now=utcnow(), reason="logout",
            session_ids=None if all_sessions else [principal.session_id],
        )  # fmt: skip
        record(
            transaction,
            user_event(
                AuditAction.LOGOUT, principal.user_id, session_id=principal.session_id,
                all_sessions=all_sessions, revoked_sessions=revoked,
            ),
        )  # fmt: skip
        return revoked

    async def revoke_session(
        self, transaction: Transaction, principal: Principal, session_id: uuid.UUID
    ) -> AuthSession:
        """End one of the caller's own sessions (NOT_FOUND for anyone else's)."""
        target = await identity_repo.get_session(transaction, session_id, for_update=True)
        if target is None or target.user_id != principal.user_id:
            raise NotFound("No such session.", field="session_id")
        if target.revoked_at is None:
            target.revoked_at, target.revoked_reason = utcnow(), "revoked"
            record(
                transaction,
                user_event(
                    AuditAction.LOGOUT, principal.user_id, session_id=target.id,
                    description="session revoked",
                ),
            )  # fmt: skip
            await transaction.flush()
        return target


def _seconds_between(now: datetime, later: datetime) -> int:
    return max(1, int((later - now).total_seconds()) + 1)


def login_failed(user_id: uuid.UUID | None, login: str, reason: str) -> AuditEntry:
    """A failed login: the attempted name is kept (truncated), the password never."""
    return user_event(
        AuditAction.LOGIN_FAILED, user_id, status=AuditStatus.FAILURE,
        error_message=reason, attempted_login=login[:254],
    )  # fmt: skip


def refresh_failed(user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> AuditEntry:
    """A refused token refresh; durable, so that it is kept should the transaction fail."""
    entry = user_event(
        AuditAction.TOKEN_REFRESH, user_id, status=AuditStatus.FAILURE,
        error_message=reason, session_id=session_id,
    )  # fmt: skip
    entry.durable = True
    return entry
