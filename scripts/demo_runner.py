"""Running demo steps against a server and reporting each one, as text or as JSON lines.

After the last step, or the one that failed, the run logs out of every session it signed into,
so no session is left behind; that is reported as a last `logout` line (JSON: `"index": null`).

Passwords and tokens never reach the output: the step results below hold neither, and the
server's error messages never quote the values sent.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from demo_api import (
    CREATE_HOLDER,
    DEPOSIT,
    LOGIN,
    OPEN_ACCOUNT,
    REGISTER,
    RESENDS,
    STATEMENT,
    TRANSFER,
    WITHDRAW,
    DemoFailure,
    LedgerClient,
)
from demo_steps import PASSWORD_VARIABLE, Step, StepsError, minor_units


@dataclass(frozen=True)
class OpenedAccount:
    """An account a step opened, by its local name."""

    id: str
    currency: str
    exponent: int


@dataclass(frozen=True)
class StepResult:
    """What a step did: lines for people and data for `--json` (no secrets in either)."""

    lines: list[str]
    data: dict[str, Any]


def _money(money: dict[str, Any]) -> str:
    return f"{money['formatted']} {money['currency']}"


def _resent(payload: dict[str, Any]) -> str:
    attempts = int(payload["attempts"])
    return f"; sent {attempts} times with one idempotency key" if attempts > 1 else ""


def _exponent(formatted: str) -> int:
    """The currency's exponent, read from a formatted amount ("0.00" -> 2, "0" -> 0)."""
    return len(formatted.partition(".")[2])


class DemoRun:
    """The state of one demo run: the client, the last signup and the opened accounts."""

    def __init__(self, client: LedgerClient) -> None:
        """Run steps through `client`."""
        self.client = client
        self.accounts: dict[str, OpenedAccount] = {}
        self._username: str | None = None
        self._password: str | None = None

    def run(self, step: Step) -> StepResult:
        """Run one step; raise DemoFailure when it fails."""
        handler = getattr(self, f"_{step.kind}")
        result: StepResult = handler(step)
        return result

    def _password_of(self, step: Step) -> str:
        password = step.get("password") or self._password or os.environ.get(PASSWORD_VARIABLE)
        if not password:  # validate() refuses such files; this guards direct callers
            raise DemoFailure("VALIDATION_FAILED", f"no password and {PASSWORD_VARIABLE} unset")
        return password

    def _signup(self, step: Step) -> StepResult:
        password = self._password_of(step)
        variables = {
            "username": step.fields["username"],
            "email": step.fields["email"],
            "password": password,
            "fullName": step.get("full_name"),
        }
        payload = self.client.mutate(REGISTER, "register", {"input": variables})
        user = payload["user"]
        self._username, self._password = user["username"], password
        return StepResult(
            [f"user {user['username']} <{user['email']}> signed up"],
            {"userId": user["id"], "username": user["username"], "email": user["email"]},
        )

    def _login(self, step: Step) -> StepResult:
        username = step.get("username") or self._username or ""
        variables = {"username": username, "password": self._password_of(step)}
        payload = self.client.execute(LOGIN, {"input": variables})["login"]
        self.client.sign_in(payload["accessToken"])
        user = payload["user"]
        return StepResult(
            [f"signed in as {user['username']}; access token valid {payload['expiresIn']} s"],
            {"userId": user["id"], "username": user["username"], "expiresIn": payload["expiresIn"]},
        )

    def _create_holder(self, step: Step) -> StepResult:
        variables = {
            "firstName": step.fields["first_name"],
            "lastName": step.fields["last_name"],
            "dateOfBirth": step.fields["date_of_birth"],
        }
        payload = self.client.mutate(CREATE_HOLDER, "createAccountHolder", {"input": variables})
        holder = payload["accountHolder"]
        return StepResult(
            [f"holder {holder['firstName']} {holder['lastName']}, born {holder['dateOfBirth']}"],
            {"holderId": holder["id"], **{k: holder[k] for k in holder if k != "id"}},
        )

    def _open_account(self, step: Step) -> StepResult:
        name = step.fields["name"]
        variables = {"type": step.get("type", "CHECKING"), "currency": step.fields["currency"]}
        account = self.client.mutate(OPEN_ACCOUNT, "openAccount", {"input": variables})["account"]
        balance = account["balance"]
        self.accounts[name] = OpenedAccount(
            account["id"], account["currency"], _exponent(balance["formatted"])
        )
        return StepResult(
            [f"{account['type']} account in {account['currency']}, balance {_money(balance)}"],
            {"account": name, "accountId": account["id"], "type": account["type"],
             "currency": account["currency"], "balance": balance},
        )  # fmt: skip

    def _amount_of(self, step: Step, account: OpenedAccount) -> int:
        try:
            return minor_units(step.fields["amount"], account.exponent, account.currency)
        except StepsError as error:
            raise DemoFailure("VALIDATION_FAILED", str(error), None, ("amount",)) from None

    def _move(self, step: Step, document: str, field: str, sign: str) -> StepResult:
        name = step.fields["account"]
        account = self.accounts[name]
        key = str(uuid.uuid4())
        variables = {
            "accountId": account.id,
            "amount": self._amount_of(step, account),
            "idempotencyKey": key,
            "description": step.get("description", f"demo {field}"),
        }
        payload = self.client.mutate(document, field, {"input": variables}, resends=RESENDS)
        line, balance = payload["transaction"], payload["account"]["balance"]
        return StepResult(
            [f"{sign}{_money(line['amount'])}; balance {_money(balance)} "
             f"(transaction {line['id']}){_resent(payload)}"],
            {"account": name, "transactionId": line["id"], "amount": line["amount"],
             "balance": balance, "idempotencyKey": key, "attempts": payload["attempts"]},
        )  # fmt: skip

    def _deposit(self, step: Step) -> StepResult:
        return self._move(step, DEPOSIT, "deposit", "+")

    def _withdraw(self, step: Step) -> StepResult:
        return self._move(step, WITHDRAW, "withdraw", "-")

    def _transfer(self, step: Step) -> StepResult:
        source, target = step.fields["from"], step.fields["to"]
        key = str(uuid.uuid4())
        variables = {
            "fromAccountId": self.accounts[source].id,
            "toAccountId": self.accounts[target].id,
            "amount": self._amount_of(step, self.accounts[source]),
            "idempotencyKey": key,
            "description": step.get("description", f"demo transfer {source} -> {target}"),
        }
        payload = self.client.mutate(TRANSFER, "transfer", {"input": variables}, resends=RESENDS)
        transfer = payload["transfer"]
        after = {source: payload["fromAccount"]["balance"], target: payload["toAccount"]["balance"]}
        return StepResult(
            [f"{_money(transfer['amount'])} moved, transfer {transfer['id']}{_resent(payload)}",
             f"balances: {source} {_money(after[source])}, {target} {_money(after[target])}"],
            {"transferId": transfer["id"], "from": source, "to": target,
             "amount": transfer["amount"], "balances": after, "idempotencyKey": key,
             "attempts": payload["attempts"]},
        )  # fmt: skip

    def _statement(self, step: Step) -> StepResult:
        name = step.fields["account"]
        today = datetime.now(UTC).date().isoformat()
        variables: dict[str, Any] = {
            "accountId": self.accounts[name].id,
            "from": step.get("from", today),
            "to": step.get("to", today),
            "after": None,
        }
        lines: list[dict[str, Any]] = []
        while True:
            statement = self.client.execute(STATEMENT, variables)["statement"]
            page = statement["transactions"]
            lines.extend(edge["node"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            variables["after"] = page["pageInfo"]["endCursor"]
        lines.reverse()  # the API lists newest first; a statement reads oldest first
        text = [f"{statement['from']} to {statement['to']} (UTC days)",
                f"  opening balance {_money(statement['openingBalance'])}"]  # fmt: skip
        for line in lines:
            debit = line["type"] in ("WITHDRAWAL", "TRANSFER_OUT")
            signed = f"{'-' if debit else '+'}{_money(line['amount'])}"
            text.append(
                f"  {line['createdAt'][:19].replace('T', ' ')}  {line['type']:<12} "
                f"{signed:>16}  balance {_money(line['balanceAfter'])}"
            )
        text.append(
            f"  closing balance {_money(statement['closingBalance'])} (credits "
            f"{_money(statement['totalCredits'])}, debits {_money(statement['totalDebits'])})"
        )
        keys = ("from", "to", "openingBalance", "closingBalance", "totalCredits", "totalDebits")
        return StepResult(
            text,
            {"account": name, **{key: statement[key] for key in keys}, "transactions": lines},
        )


class Reporter:
    """Prints each step's outcome: readable text, or one JSON object per line with `--json`."""

    def __init__(self, *, as_json: bool, out: TextIO | None = None) -> None:
        """Report as JSON lines when `as_json`, else as text; to `out` (stdout by default)."""
        self.as_json = as_json
        self.out = out or sys.stdout

    def _emit(self, record: dict[str, Any]) -> None:
        print(json.dumps(record, separators=(",", ":")), file=self.out, flush=True)

    def succeeded(self, number: int, step: Step, result: StepResult) -> None:
        """Report a step that succeeded."""
        if self.as_json:
            self._emit({"step": step.kind, "index": number, "ok": True, "data": result.data})
            return
        first, *rest = result.lines
        print(f"[{number}] {step.describe()}: {first}", file=self.out)
        for line in rest:
            print(f"    {line}", file=self.out)
        self.out.flush()

    def signed_out(self, revoked: int) -> None:
        """Report the logout at the end of a run: how many sessions the server ended."""
        if self.as_json:
            self._emit(
                {"step": "logout", "index": None, "ok": True, "data": {"revokedSessions": revoked}}
            )
            return
        sessions = "1 session" if revoked == 1 else f"{revoked} sessions"
        print(f"[logout] signed out: {sessions} ended", file=self.out, flush=True)

    def sign_out_failed(self, failure: DemoFailure) -> None:
        """Report that the logout at the end of a run failed: the session lives until it expires."""
        if self.as_json:
            self._emit({"step": "logout", "index": None, "ok": False, "error": failure.as_json()})
        print(
            f"[logout] FAILED: {failure} - the session stays open until it expires",
            file=sys.stderr,
            flush=True,
        )

    def failed(self, number: int | None, step: Step | None, failure: DemoFailure) -> None:
        """Report a failure: of a step, or (no step) of the steps before anything ran."""
        if self.as_json:
            kind = step.kind if step is not None else None
            self._emit({"step": kind, "index": number, "ok": False, "error": failure.as_json()})
        if step is None:
            print(f"demo_client: {failure} - nothing was sent", file=sys.stderr, flush=True)
            return
        print(f"[{number}] {step.describe()} FAILED: {failure}", file=sys.stderr, flush=True)


def sign_out(client: LedgerClient, reporter: Reporter) -> bool:
    """Log out of the run's sessions, if any, and report it; whether none is left open."""
    if not client.signed_in:
        return True
    try:
        revoked = client.sign_out()
    except DemoFailure as failure:
        reporter.sign_out_failed(failure)
        return False
    reporter.signed_out(revoked)
    return True


def run_steps(steps: list[Step], client: LedgerClient, reporter: Reporter) -> int:
    """Run the steps in order up to the first failure, then log out; the exit code (0 or 1)."""
    run = DemoRun(client)
    exit_code = 0
    try:
        for number, step in enumerate(steps, start=1):
            try:
                result = run.run(step)
            except DemoFailure as failure:
                reporter.failed(number, step, failure)
                exit_code = 1
                break
            reporter.succeeded(number, step, result)
    finally:  # also when interrupted: a demo leaves no session behind
        signed_out = sign_out(client, reporter)
    return exit_code if signed_out else 1
