"""Permission classes: who may ask for a field. Object-level rules live in the repositories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from strawberry.permission import BasePermission

from auth.permissions import Permission
from core.logging import get_logger
from db.errors import Forbidden, RateLimited
from db.rate_limits import DatabaseCounters, Decision, Limit
from db.repositories.identity import login_key
from graph.common.info import Info
from graph.context import Context, current_scope

log = get_logger(__name__)


async def count_hit(context: Context, key: str, limit: Limit, cost: int = 1) -> Decision:
    """Count a rate-limit hit of the operation.

    A database counter is a write transaction of its own: the operation's read connection goes
    back to the pool first, so that an operation never holds two connections at once (a storm
    on a small pool would otherwise wait on itself).
    """
    if isinstance(context.rate_limits, DatabaseCounters):
        await current_scope().uow.close()
    return await context.rate_limits.hit(key, limit, cost)


class IsAuthenticated(BasePermission):
    """The caller presented a valid access token of a live session."""

    message = "Authentication is required."

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        """The operation's caller; UNAUTHENTICATED (none, or a refused token) propagates."""
        await info.context.require_principal()
        return True


@cache
def HasPermission(permission: Permission) -> type[BasePermission]:  # noqa: N802 - reads as a class
    """A permission class requiring an authenticated caller holding `permission`."""

    class _HasPermission(BasePermission):
        message = f"Requires the `{permission}` permission."

        async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            principal = await info.context.require_principal()
            if not principal.can(permission):
                raise Forbidden(self.message)
            return True

    _HasPermission.__name__ = _HasPermission.__qualname__ = f"HasPermission[{permission}]"
    return _HasPermission


RateKeys = Callable[[Context, dict[str, Any]], Awaitable[list[str]]]


@cache
def RateLimit(policy: str) -> type[BasePermission]:  # noqa: N802 - reads as a class
    """A permission class counting one hit per field execution against a rate-limit policy.

    Every key of the policy is counted (login: the canonical sign-in name); the first one over
    its limit refuses the field with RATE_LIMITED and `retryAfter`.
    """
    keys_of = RATE_KEYS[policy]

    class _RateLimit(BasePermission):
        message = "Too many requests; try again later."

        async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            context = info.context
            limit = Limit.parse(getattr(context.settings, f"rate_limit_{policy}"))
            refusals = []
            for key in await keys_of(context, kwargs):
                decision = await count_hit(context, f"{policy}:{key}", limit)
                if not decision.allowed:
                    refusals.append(decision.retry_after)
            if refusals:
                log.warning("rate_limited", policy=policy)
                raise RateLimited(max(refusals))
            return True

    _RateLimit.__name__ = _RateLimit.__qualname__ = f"RateLimit[{policy}]"
    return _RateLimit


class FailedLoginsPerAddress(BasePermission):
    """Refuse sign-ins from an address whose failed attempts used up `RATE_LIMIT_LOGIN_FAILURES`.

    Each attempt takes one unit of the address's budget before its password is checked, so
    concurrent attempts cannot all pass an unspent budget; `refund_login_attempt` gives it back
    when the sign-in succeeds. Successful sign-ins therefore never count, so many people behind
    one address can all sign in, while one address spraying wrong passwords at many names is
    stopped (with at most the limit of attempts in flight at once).
    """

    message = "Too many failed sign-ins from this address; try again later."

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        """RATE_LIMITED once the address's failures fill the window."""
        context = info.context
        decision = await count_hit(context, _failures_key(context), _failures(context))
        if not decision.allowed:
            log.warning("rate_limited", policy="login_failures")
            raise RateLimited(decision.retry_after)
        return True


async def refund_login_attempt(context: Context) -> None:
    """Give back the unit a successful sign-in took from its address's failure budget."""
    await count_hit(context, _failures_key(context), _failures(context), -1)


def _failures(context: Context) -> Limit:
    return Limit.parse(context.settings.rate_limit_login_failures)


def _failures_key(context: Context) -> str:
    return "login_failures:" + _client(context)


def _client(context: Context) -> str:
    return "ip:" + (context.device().ip_address or "unknown")


async def _login_keys(context: Context, arguments: dict[str, Any]) -> list[str]:
    return [login_key(str(getattr(arguments.get("input"), "username", "")))]


async def _client_keys(context: Context, arguments: dict[str, Any]) -> list[str]:
    return [_client(context)]


async def _session_keys(context: Context, arguments: dict[str, Any]) -> list[str]:
    session_id = context.auth.refresh_session(
        str(getattr(arguments.get("input"), "refresh_token", ""))
    )
    if session_id is None:  # not a refresh token of ours: count it against the client instead
        return [_client(context)]
    return [f"session:{session_id}"]


async def _user_keys(context: Context, arguments: dict[str, Any]) -> list[str]:
    return [f"user:{(await context.require_principal()).user_id}"]


RATE_KEYS: dict[str, RateKeys] = {
    "login": _login_keys,
    "register": _client_keys,
    "refresh": _session_keys,
    "password_change": _user_keys,
}
"""Policy name (a `rate_limit_<name>` setting) -> what one hit is counted against."""
