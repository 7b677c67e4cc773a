"""Domain exceptions: every expected failure LedgerQL knows how to explain to a client."""

from __future__ import annotations

from collections.abc import Sequence


class AppError(Exception):
    """Base of every expected failure; `code` is the stable machine-readable error code.

    `field` names what the failure is about in the domain's words (`amount`, `from_account_id`);
    the GraphQL layer turns it into the path of the argument or input field the client sent.
    """

    code = "INTERNAL"
    default_message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, field: str | Sequence[str] | None = None
    ) -> None:
        self.message = message or self.default_message
        self.field: str | list[str] | None = (
            field if isinstance(field, str) or field is None else list(field)
        )
        super().__init__(self.message)


# Business outcomes: returned in a mutation payload's `errors` list.


class BusinessRuleError(AppError):
    """A business outcome the client must handle: reported in a mutation payload."""


class ValidationFailed(BusinessRuleError):
    """Input that is well-formed GraphQL but breaks a business rule."""

    code = "VALIDATION_FAILED"
    default_message = "The input is not valid."


class WeakPassword(ValidationFailed):
    """A password that does not meet the password policy."""

    code = "WEAK_PASSWORD"
    default_message = "The password does not meet the password policy."


class Conflict(BusinessRuleError):
    """A unique value already taken or a state that forbids the change."""

    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class NotFound(BusinessRuleError):
    """The object does not exist, or the caller may not know that it exists."""

    code = "NOT_FOUND"
    default_message = "Not found."


class InsufficientFunds(BusinessRuleError):
    """A debit larger than the available balance."""

    code = "INSUFFICIENT_FUNDS"
    default_message = "The account balance is too low."


class BalanceLimitExceeded(BusinessRuleError):
    """A credit that would take a balance past the largest amount (2^53 - 1 minor units)."""

    code = "BALANCE_LIMIT_EXCEEDED"
    default_message = "The account balance would exceed the largest allowed balance."


class AccountNotActive(BusinessRuleError):
    """Money movement on a frozen or closed account."""

    code = "ACCOUNT_NOT_ACTIVE"
    default_message = "The account is not active."


class CurrencyMismatch(BusinessRuleError):
    """Money movement between accounts of different currencies."""

    code = "CURRENCY_MISMATCH"
    default_message = "The currencies do not match."


class IdempotencyKeyReused(BusinessRuleError):
    """An idempotency key presented again with a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "The idempotency key was already used for a different request."


# Who-you-are, what-you-may-do and how-much-you-may-ask: top-level GraphQL errors.


class BadRequest(AppError):
    """A malformed request or one that exceeds a limit on its shape."""

    code = "BAD_REQUEST"
    default_message = "The request is malformed."


class Unauthenticated(AppError):
    """No valid credentials: no token, a bad one, or an expired or revoked one."""

    code = "UNAUTHENTICATED"
    default_message = "Authentication is required."


class InvalidCredentials(AppError):
    """Login with a wrong username, email or password (one message for all)."""

    code = "INVALID_CREDENTIALS"
    default_message = "Invalid username or password."


class Forbidden(AppError):
    """Authenticated but not allowed."""

    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class RetryLater(AppError):
    """A refusal that ends after `retry_after` seconds."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)


class AccountLocked(RetryLater):
    """Too many failed logins; the account is locked for a while."""

    code = "ACCOUNT_LOCKED"
    default_message = "The account is temporarily locked after too many failed logins."


class RateLimited(RetryLater):
    """A rate limit or cost budget is spent."""

    code = "RATE_LIMITED"
    default_message = "Too many requests; try again later."


class Unavailable(RetryLater):
    """The service is overloaded (e.g. no database connection came free in time)."""

    code = "UNAVAILABLE"
    default_message = "The service is busy; try again shortly."


class CommitThenFail(Exception):
    """Raised by a service whose changes must be committed although it fails (a failed sign-in).

    The unit of work commits the transaction, then raises `error` in its place.
    """

    def __init__(self, error: AppError) -> None:
        self.error = error
        super().__init__(error.message)


class InputErrors(Exception):
    """Several business-rule failures reported together (e.g. every unmet password rule)."""

    def __init__(self, errors: Sequence[AppError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(error.message for error in self.errors))
