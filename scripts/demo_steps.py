"""The steps of a demo run: their JSON format, its validation and the `{random}` placeholder.

A steps file is a JSON list of objects, run in order. Each object names its `step`; the other
keys are that step's fields (all strings; unknown keys are refused, so typos are caught):

| step | fields (`?` = optional) |
|---|---|
| `signup` | `username`, `email`, `password?`, `full_name?` |
| `login` | `username?` (default: the last signup's), `password?` (default: the last signup's) |
| `create_holder` | `first_name`, `last_name`, `date_of_birth` (`YYYY-MM-DD`) |
| `open_account` | `name` (local, for later steps), `currency` (ISO 4217), `type?` (`CHECKING`) |
| `deposit`, `withdraw` | `account` (a local name), `amount`, `description?` |
| `transfer` | `from`, `to` (local names), `amount`, `description?` |
| `statement` | `account` (a local name), `from?`, `to?` (`YYYY-MM-DD`, default today in UTC) |

`type` is `CHECKING` (the default) or `SAVINGS`.

Amounts are strings in major units (`"100.00"` USD, `"1500"` JPY), never JSON numbers, with no
more decimals than the account's currency has (ISO 4217: JPY 0, USD 2, KWD 3; a transfer's
currency is its `from` account's). A
password missing from `signup` (and from a `login` with nothing to default to) comes from the
environment variable `LEDGERQL_DEMO_PASSWORD`. Every `{random}` in a string value is replaced by
one random suffix per run, the same everywhere in the file, so a file that signs up
`demo-{random}` can be replayed against the same server.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from iso4217 import Currency

PASSWORD_VARIABLE = "LEDGERQL_DEMO_PASSWORD"  # noqa: S105 - a variable's name, not a password
"""The environment variable a missing password is read from."""
RANDOM_PLACEHOLDER = "{random}"
AMOUNT_PATTERN = re.compile(r"[0-9]{1,16}(\.[0-9]{1,4})?")
MAX_AMOUNT = 2**53 - 1
"""The largest amount in minor units the API takes (JSON-safe)."""
ACCOUNT_TYPES = ("CHECKING", "SAVINGS")
SIGNED_IN_STEPS = frozenset(
    {"create_holder", "open_account", "deposit", "withdraw", "transfer", "statement"}
)
"""Steps that need a `login` before them."""
ACCOUNT_REFERENCES = {
    "deposit": ("account",),
    "withdraw": ("account",),
    "transfer": ("from", "to"),
    "statement": ("account",),
}
"""The fields of each step that name an account opened earlier."""

FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "signup": (frozenset({"username", "email"}), frozenset({"password", "full_name"})),
    "login": (frozenset(), frozenset({"username", "password"})),
    "create_holder": (frozenset({"first_name", "last_name", "date_of_birth"}), frozenset()),
    "open_account": (frozenset({"name", "currency"}), frozenset({"type"})),
    "deposit": (frozenset({"account", "amount"}), frozenset({"description"})),
    "withdraw": (frozenset({"account", "amount"}), frozenset({"description"})),
    "transfer": (frozenset({"from", "to", "amount"}), frozenset({"description"})),
    "statement": (frozenset({"account"}), frozenset({"from", "to"})),
}
"""Each step's (required, optional) fields besides `step`."""


class StepsError(ValueError):
    """A steps file or step list that cannot be run; nothing has been sent."""


@dataclass(frozen=True)
class Step:
    """One validated step: its kind and its fields, placeholders already filled in."""

    kind: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """The field's value, or `default` when the step does not have it."""
        return self.fields.get(name, default)

    def describe(self) -> str:
        """A short label for output: the step and the accounts it is about (never secrets)."""
        if self.kind == "transfer":
            return f"transfer {self.fields['from']} -> {self.fields['to']}"
        subject = self.fields.get("name") or self.fields.get("account") or ""
        return f"{self.kind} {subject}".strip()


def random_suffix() -> str:
    """A short random suffix for usernames and emails."""
    return secrets.token_hex(4)


def _fill(value: str, suffix: str) -> str:
    return value.replace(RANDOM_PLACEHOLDER, suffix)


def is_amount(text: str) -> bool:
    """Whether `text` is a positive amount in major units, such as `100.00`."""
    return bool(AMOUNT_PATTERN.fullmatch(text)) and any(c in "123456789" for c in text)


def is_date(text: str) -> bool:
    """Whether `text` is a calendar date written as YYYY-MM-DD."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def currency_exponent(code: str) -> int | None:
    """The ISO 4217 exponent of `code` (USD 2, JPY 0, KWD 3); None unless accounts may hold it.

    The iso4217 package is the server's own source for exponents, so both agree.
    """
    if len(code) != 3 or not code.isascii() or not code.isalpha() or not code.isupper():
        return None
    try:
        exponent: int | None = Currency(code).exponent
    except ValueError:
        return None
    return exponent  # None for funds and metals (XAU, XXX), which accounts cannot hold


def is_currency(text: str) -> bool:
    """Whether `text` is an ISO 4217 code with minor units, such as USD (what accounts hold)."""
    return currency_exponent(text) is not None


def amount_problem(amount: str, currency: str) -> str | None:
    """Why `amount` (major units) cannot be sent in `currency` ("must ..."), or None if it can."""
    if not is_amount(amount):
        return 'must be a positive amount in major units, e.g. "100.00"'
    exponent = currency_exponent(currency)
    if exponent is None:
        return None  # not a currency accounts hold: opening the account fails first
    try:
        minor = minor_units(amount, exponent, currency)
    except StepsError:
        places = f"at most {exponent} decimals" if exponent else "no decimals"
        return f"must have {places} in {currency}"
    if minor > MAX_AMOUNT:
        whole, fraction = divmod(MAX_AMOUNT, 10**exponent)
        largest = f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)
        return f"must be at most {largest} {currency}"
    return None


def _check_amount(where: str, value: str, currency: str) -> None:
    if problem := amount_problem(value, currency):
        raise StepsError(f'{where}: "amount" {problem}')


def _check_date(where: str, name: str, value: str) -> None:
    if not is_date(value):
        raise StepsError(f'{where}: "{name}" must be a date as YYYY-MM-DD')


def _parse_step(where: str, raw: object, suffix: str) -> Step:
    if not isinstance(raw, dict):
        raise StepsError(f"{where}: each step must be a JSON object")
    kind = raw.get("step")
    if not isinstance(kind, str) or kind not in FIELDS:
        raise StepsError(f'{where}: "step" must be one of {", ".join(FIELDS)}')
    required, optional = FIELDS[kind]
    names = set(raw) - {"step"}
    if missing := sorted(required - names):
        raise StepsError(f"{where} ({kind}): missing {', '.join(missing)}")
    if unknown := sorted(names - required - optional):
        raise StepsError(f"{where} ({kind}): unknown field {', '.join(unknown)}")
    fields: dict[str, str] = {}
    for name in sorted(names):
        value = raw[name]
        if not isinstance(value, str) or not value.strip():
            raise StepsError(f'{where} ({kind}): "{name}" must be a non-empty string')
        fields[name] = _fill(value, suffix)
    return Step(kind, fields)


def _password_available(step: Step, signed_up: bool) -> bool:
    return "password" in step.fields or signed_up or bool(os.environ.get(PASSWORD_VARIABLE))


def _check_fields(where: str, step: Step, opened: dict[str, str]) -> None:
    """Check a step's values and the accounts it names; record the account it opens."""
    if step.kind == "create_holder":
        _check_date(where, "date_of_birth", step.fields["date_of_birth"])
    if step.kind == "open_account":
        name = step.fields["name"]
        if name in opened:
            raise StepsError(f'{where}: an account named "{name}" is already opened')
        if step.get("type", "CHECKING") not in ACCOUNT_TYPES:
            raise StepsError(f'{where}: "type" must be CHECKING or SAVINGS')
        if not is_currency(step.fields["currency"]):
            raise StepsError(
                f'{where}: "currency" must be an ISO 4217 code with minor units, such as USD'
            )
        opened[name] = step.fields["currency"]
    for key in ACCOUNT_REFERENCES.get(step.kind, ()):
        if (name := step.fields[key]) not in opened:
            raise StepsError(f'{where}: account "{name}" is not opened by an earlier step')
    if "amount" in step.fields:  # in the currency of the account the money leaves or enters
        account = step.fields["from" if step.kind == "transfer" else "account"]
        _check_amount(where, step.fields["amount"], opened[account])
    if step.kind == "statement":
        for key in ("from", "to"):
            if key in step.fields:
                _check_date(where, key, step.fields[key])
        if step.get("from", "0") > step.get("to", "9"):  # ISO dates order as strings
            raise StepsError(f'{where}: "to" must not be before "from"')


def validate(steps: list[Step]) -> None:
    """Check what a step relies on: a login, opened accounts, known values; raise StepsError."""
    opened: dict[str, str] = {}
    signed_in = signed_up = False
    for number, step in enumerate(steps, start=1):
        where = f"step {number} ({step.kind})"
        if step.kind in SIGNED_IN_STEPS and not signed_in:
            raise StepsError(f"{where}: needs a login step before it")
        if step.kind in ("signup", "login") and not _password_available(
            step, signed_up and step.kind == "login"
        ):
            raise StepsError(f'{where}: no "password" and {PASSWORD_VARIABLE} is not set')
        if step.kind == "login" and "username" not in step.fields and not signed_up:
            raise StepsError(f'{where}: "username" is needed when no signup step comes before')
        signed_up = signed_up or step.kind == "signup"
        signed_in = signed_in or step.kind == "login"
        _check_fields(where, step, opened)


def parse_steps(document: Any, suffix: str | None = None) -> list[Step]:
    """Validate a decoded steps document and fill in its placeholders; raise StepsError."""
    if not isinstance(document, list) or not document:
        raise StepsError("a steps file must hold a non-empty JSON list of steps")
    fill = suffix if suffix is not None else random_suffix()
    steps = [_parse_step(f"step {n}", raw, fill) for n, raw in enumerate(document, start=1)]
    validate(steps)
    return steps


def load_steps(path: Path, suffix: str | None = None) -> list[Step]:
    """Read, parse and validate a steps file; raise StepsError with a clear message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StepsError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise StepsError(f"{path} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise StepsError(
            f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    return parse_steps(document, suffix)


def minor_units(amount: str, exponent: int, currency: str) -> int:
    """A major-unit amount string as an integer of minor units; StepsError if too precise."""
    whole, _, fraction = amount.partition(".")
    if len(fraction) > exponent:
        places = f"{exponent} decimal places" if exponent else "no decimal places"
        raise StepsError(f"{amount} {currency}: the currency has {places}")
    return int(whole + fraction.ljust(exponent, "0"))
