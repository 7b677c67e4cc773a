"""Sign-up, sign-in, token refresh with rotation, sign-out and password changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.passwords import PasswordHasher
from auth.principal import Principal
from auth.token_failures import TokenFailureTally
from auth.tokens import IssuedToken, TokenService, TokenType
from core.settings import Settings
from db.audit.entries import AuditEntry, json_safe, record
from db.base import ACTOR_KEY, utcnow
from db.errors import (
    AccountLocked,
    AppError,
    Conflict,
    InputErrors,
    InvalidCredentials,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from db.models import AuditAction, AuditStatus, AuthSession, User, UserRole
from db.repositories import identity as identity_repo
from db.services.identity import refuse_taken, validate_profile
from db.session import UnitOfWork

DEFAULT_ROLE = "user"


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
    """Who an access token authenticates: the principal, its user row and the token's expiry."""

    principal: Principal
    user: User
    expires_at: datetime


def session_usable(auth_session: AuthSession, user: User, now: datetime) -> bool:
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
    """Identity use-cases; each runs in the caller's unit of work."""

    def __init__(self, settings: Settings, hasher: PasswordHasher, tokens: TokenService) -> None:
        self.settings = settings
        self.hasher = hasher
        self.tokens = tokens
        self.token_failures = TokenFailureTally()

    async def register(
        self, uow: UnitOfWork, *, username: str, email: str, password: str, full_name: str
    ) -> User:
        """Create a user with the `user` role; WEAK_PASSWORD, VALIDATION_FAILED or CONFLICT."""
        username, email = username.strip(), identity_repo.normalise_email(email)
        problems = validate_profile(username=username, email=email, full_name=full_name)
        problems += await self.hasher.problems(
            password, username=username, email=email, full_name=full_name
        )
        if problems:
            raise InputErrors(problems)
        await uow.close()  # no connection is held while hashing
        password_hash = await self.hasher.hash(password)
        try:
            async with uow.write() as session:
                await refuse_taken(session, username=username, email=email, exclude=None)
                now = utcnow()
                user = User(
                    id=uuid.uuid4(), username=username, email=email, password_hash=password_hash,
                    full_name=full_name.strip(), password_changed_at=now,
                )  # fmt: skip
                session.info[ACTOR_KEY] = user.id  # a new user signs themselves up
                session.add(user)
                await session.flush()
                role = await identity_repo.role_by_name(session, DEFAULT_ROLE)
                if role is not None:
                    session.add(UserRole(user_id=user.id, role_id=role.id))
                    await session.flush()
                await session.refresh(user)
        except IntegrityError:  # a concurrent registration won the race for the name
            raise Conflict("The username or email is already taken.") from None
        return user

    async def login(self, uow: UnitOfWork, login: str, password: str, device: Device) -> TokenPair:
        """Check credentials, apply lockout, and open a session with a fresh token pair.

        Failures and locks are counted per canonical sign-in name, whether an account has it
        or not, so an unknown name answers exactly like a real one (a dummy hash stands in for
        its password). No database connection is held while the password is hashed or waits
        for a hashing slot: the read is released first, the outcome written afterwards.
        """
        key = identity_repo.login_key(login)
        async with uow.read() as session:
            found = await identity_repo.find_by_login(session, login)
            user_id, stored_hash = (found.id, found.password_hash) if found else (None, None)
            lock_ends = await identity_repo.sign_in_locked_until(session, key)
        await uow.close()  # give the connection back before the slow part
        if lock_ends is not None and lock_ends > utcnow():
            await uow.record([_login_failed(user_id, login, "account locked")])
            raise AccountLocked(retry_after=_seconds_between(utcnow(), lock_ends))
        matches = await self.hasher.verify(password, stored_hash)
        now = utcnow()
        outcome: AppError | None = None
        pair: TokenPair | None = None
        async with uow.write() as session:
            throttle = await identity_repo.sign_in_throttle_for_update(session, key)
            user = (
                await identity_repo.get_user(session, user_id, for_update=True) if user_id else None
            )
            if throttle is not None and throttle.locked_until and throttle.locked_until > now:
                # Locked while this attempt was hashing: the lock wins over the right password.
                outcome = AccountLocked(retry_after=_seconds_between(now, throttle.locked_until))
                record(session, _login_failed(user_id, login, "account locked"))
            elif user is None or not matches:
                await self._record_failure(session, key, user, login, now)
                outcome = InvalidCredentials()
            elif not user.is_active:
                outcome = InvalidCredentials()
                record(session, _login_failed(user.id, login, "account deactivated"))
            else:
                await identity_repo.forget_sign_in_failures(session, [key])
                user.failed_login_count, user.locked_until, user.last_login_at = 0, None, now
                pair = self._open_session(session, user, device, now)
                record(session, _event(AuditAction.LOGIN, user.id, session_id=pair.session_id))
        if outcome is not None or pair is None:
            raise outcome or InvalidCredentials()  # after the commit: failures stay counted
        return pair

    async def _record_failure(
        self, session: AsyncSession, key: str, user: User | None, login: str, now: datetime
    ) -> None:
        """Count a failure under `key`; the account row mirrors it for operators."""
        throttle, newly_locked = await identity_repo.record_sign_in_failure(
            session, key, now=now, max_failures=self.settings.login_max_failures,
            lockout=timedelta(seconds=self.settings.login_lockout_seconds),
        )  # fmt: skip
        user_id = user.id if user else None
        record(session, _login_failed(user_id, login, "wrong password" if user else "unknown user"))
        if user is not None:
            user.failed_login_count, user.locked_until = throttle.failures, throttle.locked_until
        if newly_locked:
            unknown = {} if user else {"attempted_login": login[:254]}
            record(
                session,
                _event(
                    AuditAction.ACCOUNT_LOCKED, user_id, status=AuditStatus.FAILURE,
                    description=f"locked after {throttle.failures} failed logins",
                    locked_until=throttle.locked_until, **unknown,
                ),
            )  # fmt: skip

    def _open_session(
        self, session: AsyncSession, user: User, device: Device, now: datetime
    ) -> TokenPair:
        session_id = uuid.uuid4()
        refresh = self.tokens.issue(TokenType.REFRESH, user.id, session_id)
        access = self.tokens.issue(TokenType.ACCESS, user.id, session_id)
        session.add(
            AuthSession(
                id=session_id, user_id=user.id, refresh_jti=refresh.token_id,
                user_agent=device.user_agent[:512], ip_address=device.ip_address[:64],
                last_used_at=now, expires_at=refresh.expires_at,
                created_by=user.id, updated_by=user.id,
            )
        )  # fmt: skip
        return TokenPair(access=access, refresh=refresh, user_id=user.id, session_id=session_id)

    async def refresh(self, uow: UnitOfWork, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; presenting a spent one revokes its whole session family."""
        claims = self.tokens.verify(refresh_token, TokenType.REFRESH)
        now = utcnow()
        new_refresh = self.tokens.issue(TokenType.REFRESH, claims.user_id, claims.session_id)
        async with uow.write() as session:
            found = await identity_repo.session_with_user(session, claims.session_id)
            rotated = await identity_repo.rotate_session(
                session, claims.session_id, old_jti=claims.token_id,
                new_jti=new_refresh.token_id, now=now, expires_at=new_refresh.expires_at,
            )  # fmt: skip
            usable = rotated and found is not None and session_usable(*found, now)
            if not usable:
                reason = "refresh_token_reuse" if not rotated else "refresh_refused"
                await identity_repo.revoke_sessions(
                    session, user_id=claims.user_id, session_ids=[claims.session_id],
                    now=now, reason=reason,
                )  # fmt: skip
                if not rotated:
                    action = AuditAction.TOKEN_REUSE
                    entry = _event(
                        action, claims.user_id, status=AuditStatus.FAILURE,
                        description="a spent refresh token was presented; session revoked",
                        session_id=claims.session_id,
                    )  # fmt: skip
                else:
                    entry = _refresh_failed(claims.user_id, claims.session_id, "session ended")
                record(session, entry)
            else:
                record(
                    session,
                    _event(AuditAction.TOKEN_REFRESH, claims.user_id, session_id=claims.session_id),
                )
        if not usable:
            raise Unauthenticated("The refresh token is no longer valid.")
        access = self.tokens.issue(TokenType.ACCESS, claims.user_id, claims.session_id)
        return TokenPair(access, new_refresh, claims.user_id, claims.session_id)

    async def authenticate(self, uow: UnitOfWork, access_token: str) -> Caller:
        """The caller behind an access token; UNAUTHENTICATED unless its session is live.

        The one place an access token is checked: every operation (HTTP and WebSocket), a
        WebSocket's `connection_init` and its guard's re-checks, and the sign-in of `login`.
        It verifies the token, then reads its session, user and permissions in one statement.
        """
        claims = self.tokens.verify(access_token, TokenType.ACCESS)
        async with uow.connection() as connection:
            found = await identity_repo.caller(connection, claims.session_id)
            if found is None:
                raise Unauthenticated("The session has ended.")
            auth_session, user, permissions = found
            if user.id != claims.user_id or not session_usable(auth_session, user, utcnow()):
                raise Unauthenticated("The session has ended.")
        principal = Principal(
            user_id=user.id, session_id=claims.session_id, username=user.username,
            permissions=permissions, is_admin=user.is_admin,
        )  # fmt: skip
        return Caller(principal=principal, user=user, expires_at=claims.expires_at)

    def refresh_session(self, refresh_token: str) -> uuid.UUID | None:
        """The session a refresh token of ours names (to key its rate limit), else None.

        Only the signature and claims are checked, not the session: `refresh` does that.
        """
        try:
            return self.tokens.verify(refresh_token, TokenType.REFRESH).session_id
        except Unauthenticated:
            return None

    async def logout(self, uow: UnitOfWork, principal: Principal, *, all_sessions: bool) -> int:
        """Revoke the current session, or every session of the user; returns how many."""
        async with uow.write() as session:
            revoked = await identity_repo.revoke_sessions(
                session, user_id=principal.user_id, now=utcnow(), reason="logout",
                session_ids=None if all_sessions else [principal.session_id],
            )  # fmt: skip
            record(
                session,
                _event(
                    AuditAction.LOGOUT, principal.user_id, session_id=principal.session_id,
                    all_sessions=all_sessions, revoked_sessions=revoked,
                ),
            )  # fmt: skip
            return revoked

    async def revoke_session(
        self, uow: UnitOfWork, principal: Principal, session_id: uuid.UUID
    ) -> AuthSession:
        """End one of the caller's own sessions (NOT_FOUND for anyone else's)."""
        async with uow.write() as session:
            target = await identity_repo.get_session(session, session_id, for_update=True)
            if target is None or target.user_id != principal.user_id:
                raise NotFound("No such session.", field=["input", "sessionId"])
            if target.revoked_at is None:
                target.revoked_at, target.revoked_reason = utcnow(), "revoked"
                record(
                    session,
                    _event(
                        AuditAction.LOGOUT, principal.user_id, session_id=target.id,
                        description="session revoked",
                    ),
                )  # fmt: skip
            return target

    async def change_password(
        self, uow: UnitOfWork, principal: Principal, current: str, new: str
    ) -> User:
        """Replace the password after checking the current one; every other session ends."""
        async with uow.read() as session:
            user = await identity_repo.get_user(session, principal.user_id)
            if user is None:
                raise Unauthenticated
            username, email, old_hash = user.username, user.email, user.password_hash
            full_name = user.full_name
        await uow.close()  # no connection is held while hashing
        if not await self.hasher.verify(current, old_hash):
            await uow.record(
                [
                    _event(
                        AuditAction.PASSWORD_CHANGE, principal.user_id,
                        status=AuditStatus.FAILURE, error_message="wrong current password",
                    )
                ]
            )  # fmt: skip
            raise ValidationFailed(
                "The current password is wrong.", field=["input", "currentPassword"]
            )
        found = await self.hasher.problems(new, username=username, email=email, full_name=full_name)
        problems: list[AppError] = [_retarget(problem) for problem in found]
        if new == current:
            problems.append(
                ValidationFailed("The new password must differ.", field=["input", "newPassword"])
            )
        if problems:
            raise InputErrors(problems)
        new_hash = await self.hasher.hash(new)
        async with uow.write() as session:
            user = await identity_repo.get_user(session, principal.user_id, for_update=True)
            if user is None:
                raise Unauthenticated
            now = utcnow()
            user.password_hash, user.password_changed_at = new_hash, now
            revoked = await identity_repo.revoke_sessions(
                session, user_id=user.id, now=now, reason="password_changed",
                keep=principal.session_id,
            )  # fmt: skip
            record(
                session,
                _event(AuditAction.PASSWORD_CHANGE, user.id, revoked_sessions=revoked),
            )
            return user


def _event(
    action: AuditAction,
    user_id: uuid.UUID | None,
    *,
    status: AuditStatus = AuditStatus.SUCCESS,
    description: str | None = None,
    error_message: str | None = None,
    **metadata: object,
) -> AuditEntry:
    """An authentication event about `user_id`."""
    return AuditEntry(
        action=action, status=status, user_id=user_id, entity_type="User",
        entity_id=str(user_id) if user_id else None, description=description,
        error_message=error_message, metadata=json_safe(metadata) or None,
    )  # fmt: skip


def _login_failed(user_id: uuid.UUID | None, login: str, reason: str) -> AuditEntry:
    """A failed login: the attempted name is kept (truncated), the password never."""
    return _event(
        AuditAction.LOGIN_FAILED, user_id, status=AuditStatus.FAILURE,
        error_message=reason, attempted_login=login[:254],
    )  # fmt: skip


def _refresh_failed(user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> AuditEntry:
    """A refused token refresh; durable, because the refusal rolls its transaction back."""
    entry = _event(
        AuditAction.TOKEN_REFRESH, user_id, status=AuditStatus.FAILURE,
        error_message=reason, session_id=session_id,
    )  # fmt: skip
    entry.durable = True
    return entry


def _retarget(problem: ValidationFailed) -> ValidationFailed:
    problem.field = ["input", "newPassword"]
    return problem


def _seconds_between(now: datetime, later: datetime) -> int:
    return max(1, int((later - now).total_seconds()) + 1)
