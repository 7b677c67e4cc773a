"""Drive a running LedgerQL server through the demo flow over HTTP.

Sign up, log in, create a holder, open two accounts, deposit, transfer and show a statement:

    .venv/bin/python scripts/demo_client.py                      # asks (defaults in brackets)
    .venv/bin/python scripts/demo_client.py --steps scripts/demo_steps.json [--json]
    ./dev demo [same options]

`--steps FILE` replays a JSON list of steps (format: scripts/demo_steps.py); `--json` prints one
JSON object per step (`step`, `index`, `ok`, then `data` or `error`). A run that signed in logs
out at its end, whether its steps succeeded or not, and reports it as a last `logout` line
(`"index": null`). Passwords come from the steps file, the prompt (never echoed) or
LEDGERQL_DEMO_PASSWORD, never from the command line; neither passwords nor tokens are printed.
Exit codes: 0 every step succeeded; 1 a step failed (its error code and request id are printed,
later steps are not run) or the logout at the end failed; 2 unusable steps, answers or `--url`
(nothing was sent).

It is a client of the public API only: it imports nothing of the server.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from demo_api import DemoFailure, LedgerClient, base_url_problem
from demo_runner import Reporter, run_steps
from demo_steps import (
    PASSWORD_VARIABLE,
    Step,
    StepsError,
    amount_problem,
    currency_exponent,
    is_currency,
    is_date,
    load_steps,
    parse_steps,
    random_suffix,
)

DEFAULT_URL = "http://127.0.0.1:8000"


class AnswersEnded(Exception):
    """Standard input ended before every question was answered."""


def ask(question: str, default: str, problem: Callable[[str], str | None] | None = None) -> str:
    """Ask on stderr until `problem` finds none in the answer; the default when it is empty."""
    while True:
        print(f"{question} [{default}]: ", end="", file=sys.stderr, flush=True)
        try:
            answer = input().strip() or default
        except EOFError:
            raise AnswersEnded from None
        reason = problem(answer) if problem is not None else None
        if reason is None:
            return answer
        print(f"  not a valid answer: {answer} ({reason})", file=sys.stderr)


def date_problem(answer: str) -> str | None:
    """Why `answer` is not a date, or None."""
    return None if is_date(answer) else "a date as YYYY-MM-DD"


def currency_problem(answer: str) -> str | None:
    """Why `answer` is not a currency an account can hold, or None (any letter case)."""
    return None if is_currency(answer.upper()) else "an ISO 4217 code such as USD, JPY or KWD"


def amount_in(currency: str) -> Callable[[str], str | None]:
    """Why an answer is not an amount that can be sent in `currency`, or None."""

    def problem(answer: str) -> str | None:
        reason = amount_problem(answer, currency)
        return None if reason is None else f"the amount {reason}"

    return problem


def ask_password() -> str:
    """The password: LEDGERQL_DEMO_PASSWORD when set, else asked without echo."""
    if os.environ.get(PASSWORD_VARIABLE):
        print(f"Password: taken from {PASSWORD_VARIABLE}", file=sys.stderr)
        return os.environ[PASSWORD_VARIABLE]
    while True:
        try:
            password = getpass.getpass("Password (not shown): ", stream=sys.stderr)
        except EOFError:
            raise AnswersEnded from None
        if password:
            return password
        print("  a password is needed", file=sys.stderr)


def interactive_steps(default_url: str) -> tuple[str, list[Step]]:
    """Ask for the server, the user, the holder, the currencies and amounts; (url, steps)."""
    url = ask("Server URL", default_url, base_url_problem)
    username = ask("Username", f"demo-{random_suffix()}")
    email = ask("Email", f"{username}@example.com")
    password = ask_password()
    first_name = ask("Holder first name", "Ada")
    last_name = ask("Holder last name", "Lovelace")
    born = ask("Holder date of birth (YYYY-MM-DD)", "1990-12-10", date_problem)
    currency = ask("Currency of the checking account", "USD", currency_problem).upper()
    savings_currency = ask("Currency of the savings account", currency, currency_problem).upper()
    cents = "." + "0" * exponent if (exponent := currency_exponent(currency)) else ""
    deposit = ask(f"Deposit into checking ({currency})", f"100{cents}", amount_in(currency))
    transfer = ask(
        f"Transfer from checking to savings ({currency})", f"25{cents}", amount_in(currency)
    )
    document = [
        {"step": "signup", "username": username, "email": email, "password": password},
        {"step": "login"},
        {"step": "create_holder", "first_name": first_name, "last_name": last_name,
         "date_of_birth": born},
        {"step": "open_account", "name": "checking", "currency": currency, "type": "CHECKING"},
        {"step": "open_account", "name": "savings", "currency": savings_currency,
         "type": "SAVINGS"},
        {"step": "deposit", "account": "checking", "amount": deposit},
        {"step": "transfer", "from": "checking", "to": "savings", "amount": transfer},
        {"step": "statement", "account": "checking"},
    ]  # fmt: skip
    return url, parse_steps(document)


def build_parser() -> argparse.ArgumentParser:
    """The command line: `[--url URL] [--steps FILE] [--json] [--suffix TEXT]`."""
    parser = argparse.ArgumentParser(
        prog="demo_client.py",
        description="Drive a running LedgerQL server through the demo flow over HTTP.",
        epilog=f"Passwords: steps file, prompt or {PASSWORD_VARIABLE}; never an argument.",
    )
    parser.add_argument(
        "--url", default=None, help=f"the server's base URL (default {DEFAULT_URL})"
    )
    parser.add_argument("--steps", type=Path, help="replay this JSON steps file instead of asking")
    parser.add_argument("--json", action="store_true", help="one JSON object per step (JSON lines)")
    parser.add_argument(
        "--suffix", help="the value of {random} in the steps file (default: random)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; the exit code (0 done, 1 a step or the logout failed, 2 nothing was sent)."""
    args = build_parser().parse_args(argv)
    reporter = Reporter(as_json=args.json)
    if args.url is not None and (problem := base_url_problem(args.url)):
        message = f"--url {args.url} {problem}, e.g. {DEFAULT_URL}"
        reporter.failed(None, None, DemoFailure("INVALID_URL", message))
        return 2
    try:
        if args.steps is not None:
            url, steps = args.url or DEFAULT_URL, load_steps(args.steps, args.suffix)
        else:
            url, steps = interactive_steps(args.url or DEFAULT_URL)
    except StepsError as error:
        reporter.failed(None, None, DemoFailure("INVALID_STEPS", str(error)))
        return 2
    except AnswersEnded:
        reporter.failed(None, None, DemoFailure("INVALID_STEPS", "the input ended early"))
        return 2
    client = LedgerClient(url)
    try:
        return run_steps(steps, client, reporter)
    finally:
        client.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as the docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
