"""WebSocket connections: authenticated in `connection_init`, closed when the caller's access ends.

A connection is accepted only with a valid access token of a live session. A watcher then
closes it with 4401 when that token expires, and with 4403 as soon as the session stops
authenticating (logout, password change, deactivation, deletion, refresh-token reuse): it
follows the audit events about the caller and re-authenticates when one may have ended the
session or changed its permissions (closing with 1013, try again later, when the database cannot
answer). Subscriptions ask the guard for the caller's principal as of
each event's sequence (`principal_at`), which waits until the guard has checked every earlier
event, so a permission change applies to the very next event.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from starlette.websockets import WebSocket, WebSocketState

from auth.principal import Principal
from auth.service import AuthService
from core.logging import get_logger
from db.audit.events import AuditEventBus, SubscriberTooSlow
from db.base import utcnow
from db.errors import AppError, Unavailable
from db.models import AuditAction, AuditLog
from db.session import Database

log = get_logger(__name__)

CLOSE_EXPIRED = 4401
CLOSE_REVOKED = 4403
CLOSE_TRY_AGAIN_LATER = 1013
"""RFC 6455: the database is unavailable; the client may reconnect after a while."""

ACCESS_CHANGING = frozenset(
    {
        AuditAction.LOGOUT, AuditAction.PASSWORD_CHANGE, AuditAction.PERMISSION_CHANGE,
        AuditAction.DELETE, AuditAction.TOKEN_REUSE, AuditAction.ACCOUNT_LOCKED,
        AuditAction.TOKEN_REFRESH,
    }
)  # fmt: skip
"""Actions after which the caller's session or permissions may have changed."""


class ConnectionGuard:
    """The authenticated caller of one WebSocket connection, kept current while it is open."""

    def __init__(
        self,
        websocket: WebSocket,
        token: str,
        principal: Principal,
        *,
        expires_at: datetime,
        auth: AuthService,
        database: Database,
    ) -> None:
        self._websocket = websocket
        self._token = token
        self._auth = auth
        self._database = database
        self.principal: Principal | None = principal
        self.expires_at = expires_at
        self._watcher: asyncio.Task[None] | None = None
        self._checked = 0
        self._progress = asyncio.Event()

    @classmethod
    async def open(
        cls, websocket: WebSocket, token: str, auth: AuthService, database: Database
    ) -> ConnectionGuard:
        """Authenticate the connection's token; raises UNAUTHENTICATED when it does not."""
        async with database.unit_of_work() as uow:
            caller = await auth.authenticate(uow, token)
        guard = cls(
            websocket, token, caller.principal, expires_at=caller.expires_at, auth=auth,
            database=database,
        )  # fmt: skip
        guard._watcher = asyncio.create_task(guard._watch(database.events), name="ws-guard")
        return guard

    @property
    def active(self) -> bool:
        """Whether the caller may still receive anything on this connection."""
        return self.principal is not None and utcnow() < self.expires_at

    async def principal_at(self, sequence: int) -> Principal | None:
        """The caller once every event up to `sequence` has been checked; None when access ended."""
        while self._checked < sequence and self.active and self._watching:
            self._progress.clear()
            await self._progress.wait()
        return self.principal if self.active else None

    @property
    def _watching(self) -> bool:
        return self._watcher is not None and not self._watcher.done()

    def _mark_checked(self, sequence: int) -> None:
        self._checked = max(self._checked, sequence)
        self._progress.set()

    async def close(self) -> None:
        """Stop watching (the connection has ended)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self, events: AuditEventBus) -> None:
        remaining = (self.expires_at - utcnow()).total_seconds()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                while self.principal is not None:
                    try:
                        await self._follow(events)
                    except SubscriberTooSlow:
                        seen = events.delivered
                        await self._reauthenticate()  # events were dropped: check directly
                        self._mark_checked(seen)
        except TimeoutError:
            self.principal = None
            await self._shut(CLOSE_EXPIRED, "Access token expired")
        except Exception as error:  # never leave a connection unguarded silently
            log.error("ws_guard_failed", error=type(error).__name__)
            self.principal = None
            await self._shut(CLOSE_REVOKED, "Session check failed")
        finally:
            self._progress.set()

    async def _follow(self, events: AuditEventBus) -> None:
        async with events.subscribe() as subscription:
            self._mark_checked(events.delivered)  # earlier rows never reach this subscription
            while self.principal is not None:
                row = (await subscription.next()).row
                if self._concerns_caller(row):
                    await self._reauthenticate()
                self._mark_checked(row.sequence)

    def _concerns_caller(self, row: AuditLog) -> bool:
        if self.principal is None or row.action not in ACCESS_CHANGING:
            return False
        if row.action == AuditAction.PERMISSION_CHANGE:
            return True  # grants name a junction row, and a role's change reaches all its holders
        user_id = self.principal.user_id
        return row.user_id == user_id or row.entity_id == str(user_id)

    async def _reauthenticate(self) -> None:
        try:
            async with self._database.unit_of_work() as uow:
                self.principal = (await self._auth.authenticate(uow, self._token)).principal
        except AppError as error:
            self.principal = None
            self._progress.set()
            if isinstance(error, Unavailable):  # the session cannot be checked: not revoked
                await self._shut(CLOSE_TRY_AGAIN_LATER, error.message)
            else:
                await self._shut(CLOSE_REVOKED, "Session ended")

    async def _shut(self, code: int, reason: str) -> None:
        if self._websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self._websocket.close(code=code, reason=reason)
