"""scripts/demo_client.py: the demo flow over HTTP against a real `ledgerql serve` process.

One server per backend for the whole module; every run signs up its own user ({random}).
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS
from tests.support.postgres import TestDatabases
from tests.support.processes import ROOT, free_port, running_server, server_env

SCRIPTS = ROOT / "scripts"
EXAMPLE = SCRIPTS / "demo_steps.json"
PASSWORD = "Demo-Ledger-2026!"
REQUEST_ID = r"demo-[0-9a-f]{32}"
STEP_NAMES = [
    "signup", "login", "create_holder", "open_account", "open_account", "deposit", "transfer",
    "statement", "statement",
]  # fmt: skip


@dataclass(frozen=True)
class DemoServer:
    """A running server: its base URL and the file its log goes to."""

    base: str
    log_file: Path

    def logged(self, text: str) -> bool:
        """Whether `text` appears in the log within a few seconds (lines follow the answer)."""
        deadline = time.monotonic() + 10
        while text not in self.log_file.read_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@dataclass(frozen=True)
class Run:
    """The exit code and output of one in-process demo client run."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """One `ledgerql serve` process per backend for this module, on its own database."""
    tmp = tmp_path_factory.mktemp(f"demo-{request.param}")
    databases: TestDatabases | None = None
    if request.param == "sqlite":
        path = tmp / "demo.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url, name = f"sqlite+aiosqlite:///{path}", ""
    else:
        admin_url: str = request.getfixturevalue("postgres_admin_url")
        databases = request.getfixturevalue("postgres_databases")
        name = databases.take()
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        env = server_env(url, tmp, BCRYPT_ROUNDS="4")
        with running_server(env, tmp / "serve.log") as (_, base):
            yield DemoServer(base, tmp / "serve.log")
    finally:
        if databases is not None:
            databases.drop(name)


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The demo client module, imported as the script imports its siblings; no password env."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.delenv("LEDGERQL_DEMO_PASSWORD", raising=False)
    return importlib.import_module("demo_client")


def run_demo(demo: ModuleType, capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run `demo_client.main(argv)` in this process."""
    capsys.readouterr()
    returncode = demo.main(list(argv))
    captured = capsys.readouterr()
    return Run(returncode, captured.out, captured.err)


def write_steps(tmp_path: Path, steps: Any) -> Path:
    """A steps file holding `steps` as JSON."""
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(steps), encoding="utf-8")
    return path


def signup_and_accounts(deposit: str) -> list[dict[str, str]]:
    """Steps up to a deposit into `a`, with a second account `b`."""
    return [
        {"step": "signup", "username": "d-{random}", "email": "d-{random}@example.com",
         "password": PASSWORD},
        {"step": "login"},
        {"step": "create_holder", "first_name": "Grace", "last_name": "Hopper",
         "date_of_birth": "1906-12-09"},
        {"step": "open_account", "name": "a", "currency": "USD"},
        {"step": "open_account", "name": "b", "currency": "USD", "type": "SAVINGS"},
        {"step": "deposit", "account": "a", "amount": deposit},
    ]  # fmt: skip


@pytest.mark.slow
def test_the_example_steps_file_runs_end_to_end_as_a_script(server: DemoServer) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LEDGERQL_DEMO_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "scripts/demo_client.py", "--url", server.base, "--steps", str(EXAMPLE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    labels = [line.split(":")[0] for line in lines if line.startswith("[")]
    assert labels == [
        "[1] signup", "[2] login", "[3] create_holder", "[4] open_account checking",
        "[5] open_account savings", "[6] deposit checking", "[7] transfer checking -> savings",
        "[8] statement checking", "[9] statement savings", "[logout] signed out",
    ]  # fmt: skip
    assert lines[-1] == "[logout] signed out: 1 session ended"
    assert re.fullmatch(r"\[1\] signup: user demo-[0-9a-f]{8} <demo-[0-9a-f]{8}@example.com> "
                        r"signed up", lines[0])  # fmt: skip
    assert "    balances: checking 75.00 USD, savings 25.00 USD" in lines
    assert "      closing balance 75.00 USD (credits 100.00 USD, debits 25.00 USD)" in lines
    assert "      closing balance 25.00 USD (credits 25.00 USD, debits 0.00 USD)" in lines
    start = next(n for n, line in enumerate(lines) if line.startswith("[8] statement checking"))
    statement = lines[start:]
    assert statement[1] == "      opening balance 0.00 USD"
    assert [line.split()[2:4] for line in statement[2:4]] == [
        ["DEPOSIT", "+100.00"], ["TRANSFER_OUT", "-25.00"],
    ]  # fmt: skip
    assert PASSWORD not in result.stdout


@pytest.mark.slow
def test_json_lines_report_every_step_without_secrets(
    server: DemoServer, demo: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = uuid.uuid4().hex[:12]
    argv = ["--url", server.base, "--steps", str(EXAMPLE), "--json", "--suffix", suffix]
    run = run_demo(demo, capsys, *argv)
    assert (run.returncode, run.stderr) == (0, "")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert records[0]["data"]["email"] == f"demo-{suffix}@example.com"
    assert [(r["step"], r["index"], r["ok"]) for r in records] == [
        *((name, index, True) for index, name in enumerate(STEP_NAMES, start=1)),
        ("logout", None, True),
    ]
    assert set(records[1]["data"]) == {"userId", "username", "expiresIn"}
    deposit, transfer, checking, savings = (r["data"] for r in records[5:-1])
    assert deposit["balance"] == {"amount": 10000, "currency": "USD", "formatted": "100.00"}
    assert transfer["balances"] == {
        "checking": {"amount": 7500, "currency": "USD", "formatted": "75.00"},
        "savings": {"amount": 2500, "currency": "USD", "formatted": "25.00"},
    }
    assert deposit["idempotencyKey"] != transfer["idempotencyKey"]
    assert checking["openingBalance"]["amount"] == 0
    assert checking["closingBalance"] == {"amount": 7500, "currency": "USD", "formatted": "75.00"}
    assert [(line["type"], line["amount"]["amount"]) for line in checking["transactions"]] == [
        ("DEPOSIT", 10000), ("TRANSFER_OUT", 2500),
    ]  # fmt: skip
    assert checking["transactions"][1]["transfer"] == {"id": transfer["transferId"]}
    assert savings["closingBalance"]["amount"] == 2500
    assert records[-1]["data"] == {"revokedSessions": 1}
    assert PASSWORD not in run.stdout
    assert "accessToken" not in run.stdout
    assert "eyJ" not in run.stdout  # no JWT (their header always starts so)


@pytest.mark.slow
def test_a_transfer_beyond_the_balance_stops_the_run_with_its_code_and_request_id(
    server: DemoServer, demo: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    steps = [
        *signup_and_accounts("10"),
        {"step": "transfer", "from": "a", "to": "b", "amount": "25.00"},
        {"step": "statement", "account": "a"},
    ]
    run = run_demo(demo, capsys, "--url", server.base, "--steps", str(write_steps(tmp_path, steps)))
    assert run.returncode == 1
    failure = re.fullmatch(
        rf"\[7\] transfer a -> b FAILED: INSUFFICIENT_FUNDS: .+ "
        rf"\(field input\.amount, request id ({REQUEST_ID})\)\n",
        run.stderr,
    )
    assert failure is not None, run.stderr
    assert server.logged(failure.group(1))  # the id the server logged the request with
    *_, deposit, logout = run.stdout.splitlines()
    assert deposit.startswith("[6] deposit a: +10.00 USD; balance 10.00 USD")
    assert logout == "[logout] signed out: 1 session ended"
    assert "[8]" not in run.stdout


@pytest.mark.slow
def test_a_wrong_password_fails_the_login_with_exit_1_and_no_secret_printed(
    server: DemoServer, demo: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wrong = "Not-The-Password-42!"
    steps = [*signup_and_accounts("1")[:1], {"step": "login", "password": wrong}]
    path = write_steps(tmp_path, steps)
    run = run_demo(demo, capsys, "--url", server.base, "--steps", str(path), "--json")
    assert run.returncode == 1
    signup, login = (json.loads(line) for line in run.stdout.splitlines())
    assert signup["ok"] is True
    error = login.pop("error")
    assert login == {"step": "login", "index": 2, "ok": False}
    assert (error["code"], error["field"]) == ("INVALID_CREDENTIALS", None)
    assert re.fullmatch(REQUEST_ID, error["requestId"])
    assert f"INVALID_CREDENTIALS: {error['message']} (request id {error['requestId']})" in (
        run.stderr
    )
    assert PASSWORD not in run.stdout + run.stderr
    assert wrong not in run.stdout + run.stderr


@pytest.mark.slow
def test_a_run_that_fails_still_ends_every_session_it_signed_into(
    server: DemoServer,
    demo: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    send = httpx.Client.send
    tokens: list[str] = []

    def note_the_tokens(
        client: httpx.Client, request: httpx.Request, **options: Any
    ) -> httpx.Response:
        response = send(client, request, **options)
        if b"mutation Login" in request.content:
            tokens.append(response.json()["data"]["login"]["accessToken"])
        return response

    monkeypatch.setattr(httpx.Client, "send", note_the_tokens)
    first, *rest = signup_and_accounts("10")
    steps = [first, {"step": "login"}, *rest, {"step": "withdraw", "account": "a", "amount": "11"}]
    path = write_steps(tmp_path, steps)
    run = run_demo(demo, capsys, "--url", server.base, "--steps", str(path), "--json")
    assert run.returncode == 1
    *_, withdraw, logout = (json.loads(line) for line in run.stdout.splitlines())
    assert (withdraw["step"], withdraw["index"], withdraw["error"]["code"]) == (
        "withdraw", 8, "INSUFFICIENT_FUNDS",
    )  # fmt: skip
    assert logout == {"step": "logout", "index": None, "ok": True, "data": {"revokedSessions": 2}}
    assert len(tokens) == 2
    for token in tokens:  # both sessions ended: their access tokens no longer work
        answer = httpx.post(
            f"{server.base}/graphql",
            json={"query": "{ me { id } }"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_logout_that_fails_is_reported_and_the_run_exits_1(
    demo: ModuleType, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    api = importlib.import_module("demo_api")
    runner = importlib.import_module("demo_runner")
    steps = importlib.import_module("demo_steps")
    logouts: list[str | None] = []
    user = {"id": "VXNlcjox", "username": "u"}
    refused = {"message": "Sign in first.",
               "extensions": {"code": "UNAUTHENTICATED", "requestId": "demo-1"}}  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        if b"mutation Login" in request.content:
            login = {"accessToken": "token-1", "expiresIn": 900, "user": user}
            return httpx.Response(200, json={"data": {"login": login}})
        logouts.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": None, "errors": [refused]})

    client = api.LedgerClient(
        "http://ledger.test", httpx.Client(transport=httpx.MockTransport(answer))
    )
    login = steps.parse_steps([{"step": "login", "username": "u", "password": "p"}])
    capsys.readouterr()
    exit_code = runner.run_steps(login, client, runner.Reporter(as_json=as_json))
    client.close()
    captured = capsys.readouterr()
    assert exit_code == 1  # every step succeeded, but the session stays open
    assert logouts == ["Bearer token-1"]
    assert client.signed_in  # the session not ended is still known
    assert captured.err == (
        "[logout] FAILED: UNAUTHENTICATED: Sign in first. (request id demo-1) - the session "
        "stays open until it expires\n"
    )
    if not as_json:
        assert captured.out == "[1] login: signed in as u; access token valid 900 s\n"
        return
    assert [json.loads(line) for line in captured.out.splitlines()][1] == {
        "step": "logout", "index": None, "ok": False,
        "error": {"code": "UNAUTHENTICATED", "message": "Sign in first.", "requestId": "demo-1",
                  "field": None},
    }  # fmt: skip


def test_an_interrupted_run_logs_out_before_it_stops(
    demo: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    api = importlib.import_module("demo_api")
    runner = importlib.import_module("demo_runner")
    steps = importlib.import_module("demo_steps")
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        operation = re.split(r"\W+", json.loads(request.content)["query"].strip())[1]
        sent.append(operation)
        if operation == "Login":
            login = {"accessToken": "t", "expiresIn": 900, "user": {"id": "VTox", "username": "u"}}
            return httpx.Response(200, json={"data": {"login": login}})
        if operation == "CreateHolder":
            raise KeyboardInterrupt
        return httpx.Response(200, json={"data": {"logout": {"revokedSessions": 1}}})

    client = api.LedgerClient(
        "http://ledger.test", httpx.Client(transport=httpx.MockTransport(answer))
    )
    run = steps.parse_steps([
        {"step": "login", "username": "u", "password": "p"},
        {"step": "create_holder", "first_name": "A", "last_name": "B",
         "date_of_birth": "1990-01-01"},
    ])  # fmt: skip
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        runner.run_steps(run, client, runner.Reporter(as_json=False))
    client.close()
    assert sent == ["Login", "CreateHolder", "Logout"]
    assert capsys.readouterr().out.splitlines()[-1] == "[logout] signed out: 1 session ended"


@pytest.mark.slow
def test_interactive_answers_reach_the_statement(
    server: DemoServer,
    demo: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        server.base, "", "", "Ada", "", "1990-02-30", "1990-02-28", "jpy", "", "1.5", "1500", "500",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(answers) + "\n"))
    prompts: list[str] = []
    monkeypatch.setattr(
        demo.getpass, "getpass", lambda prompt, stream: prompts.append(prompt) or PASSWORD
    )
    run = run_demo(demo, capsys)
    assert run.returncode == 0, run.stderr
    assert prompts == ["Password (not shown): "]
    assert "  not a valid answer: 1990-02-30 (a date as YYYY-MM-DD)\n" in run.stderr
    assert "Currency of the savings account [JPY]: " in run.stderr
    assert "Deposit into checking (JPY) [100]: " in run.stderr
    assert "  not a valid answer: 1.5 (the amount must have no decimals in JPY)\n" in run.stderr
    lines = run.stdout.splitlines()
    assert lines[2] == "[3] create_holder: holder Ada Lovelace, born 1990-02-28"
    assert lines[-2:] == [
        "      closing balance 1000 JPY (credits 1500 JPY, debits 500 JPY)",
        "[logout] signed out: 1 session ended",
    ]
    assert "    balances: checking 1000 JPY, savings 500 JPY" in lines
    assert PASSWORD not in run.stdout + run.stderr


@pytest.mark.slow
def test_a_deposit_whose_answer_was_lost_is_resent_with_its_key_and_moves_money_once(
    server: DemoServer,
    demo: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    send = httpx.Client.send
    deposits: list[bytes] = []

    def lose_the_first_deposit_answer(
        client: httpx.Client, request: httpx.Request, **options: Any
    ) -> httpx.Response:
        response = send(client, request, **options)
        if b"mutation Deposit" in request.content:
            deposits.append(request.content)
            if len(deposits) == 1:
                raise httpx.ReadError("connection reset", request=request)
        return response

    monkeypatch.setattr(httpx.Client, "send", lose_the_first_deposit_answer)
    steps = [*signup_and_accounts("100.00"), {"step": "statement", "account": "a"}]
    path = write_steps(tmp_path, steps)
    run = run_demo(demo, capsys, "--url", server.base, "--steps", str(path), "--json")
    assert (run.returncode, run.stderr) == (0, "")
    *_, deposit, statement, logout = (json.loads(line)["data"] for line in run.stdout.splitlines())
    assert len(deposits) == 2
    assert deposits[0] == deposits[1]  # the same input, the same idempotency key
    assert deposit["attempts"] == 2
    assert deposit["balance"]["amount"] == 10000
    assert [line["type"] for line in statement["transactions"]] == ["DEPOSIT"]
    assert statement["closingBalance"]["amount"] == 10000
    assert logout == {"revokedSessions": 1}


def test_an_amount_too_precise_for_its_currency_is_asked_again_before_anything_is_sent(
    demo: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_request(*_: object, **__: object) -> None:
        pytest.fail("the demo client sent a request")

    monkeypatch.setattr(httpx.Client, "send", no_request)
    monkeypatch.setenv("LEDGERQL_DEMO_PASSWORD", PASSWORD)
    answers = ["http://127.0.0.1:1", "", "", "", "", "", "usd", "kwd", "12.345", "12.34", "1.2345"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(answers) + "\n"))
    run = run_demo(demo, capsys)
    assert run.returncode == 2  # the input ended before a valid transfer amount
    assert "Deposit into checking (USD) [100.00]: " in run.stderr
    assert "  not a valid answer: 12.345 (the amount must have at most 2 decimals in USD)\n" in (
        run.stderr
    )
    assert "Transfer from checking to savings (USD) [25.00]: " in run.stderr
    assert "  not a valid answer: 1.2345 (the amount must have at most 2 decimals in USD)\n" in (
        run.stderr
    )
    assert run.stderr.endswith(
        "demo_client: INVALID_STEPS: the input ended early - nothing was sent\n"
    )


def test_amounts_are_checked_against_the_currency_they_are_sent_in(demo: ModuleType) -> None:
    steps = importlib.import_module("demo_steps")
    assert steps.amount_problem("12.34", "USD") is None
    assert steps.amount_problem("1.234", "KWD") is None
    assert steps.amount_problem("12.345", "USD") == "must have at most 2 decimals in USD"
    assert steps.amount_problem("1.2345", "KWD") == "must have at most 3 decimals in KWD"
    assert steps.amount_problem("1.5", "JPY") == "must have no decimals in JPY"
    assert steps.amount_problem("90071992547409.91", "USD") is None
    assert steps.amount_problem("90071992547409.92", "USD") == (
        "must be at most 90071992547409.91 USD"
    )
    assert steps.amount_problem("9007199254740992", "JPY") == "must be at most 9007199254740991 JPY"
    assert steps.amount_problem("0.00", "USD") == (
        'must be a positive amount in major units, e.g. "100.00"'
    )
    assert steps.amount_problem("1.5", "XAU") is None  # not held by accounts: opening fails first
    assert [steps.currency_exponent(code) for code in ("USD", "JPY", "KWD")] == [2, 0, 3]
    assert [steps.currency_exponent(code) for code in ("usd", "XAU", "ABC", "US")] == [None] * 4


def test_input_ending_before_every_answer_exits_2(
    demo: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("http://127.0.0.1:1\n"))
    run = run_demo(demo, capsys)
    assert run.returncode == 2
    assert run.stderr.endswith(
        "demo_client: INVALID_STEPS: the input ended early - nothing was sent\n"
    )


MALFORMED = [
    ("not json", "is not valid JSON: Expecting value (line 1, column 1)"),
    ({"steps": []}, "a steps file must hold a non-empty JSON list of steps"),
    ([{"step": "dance"}], 'step 1: "step" must be one of signup, login, create_holder'),
    ([{"step": "login", "username": "u", "password": "p", "pasword": "p"}],
     "step 1 (login): unknown field pasword"),
    ([{"step": "signup", "username": "u", "email": "e"}],
     'step 1 (signup): no "password" and LEDGERQL_DEMO_PASSWORD is not set'),
    ([{"step": "deposit", "account": "a", "amount": "1"}],
     "step 1 (deposit): needs a login step before it"),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "deposit", "account": "a", "amount": 100}],
     'step 3 (deposit): "amount" must be a non-empty string'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "deposit", "account": "a", "amount": "-5"}],
     'step 3 (deposit): "amount" must be a positive amount in major units, e.g. "100.00"'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "transfer", "from": "a", "to": "b", "amount": "5"}],
     'step 3 (transfer): account "b" is not opened by an earlier step'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "create_holder", "first_name": "A", "last_name": "B",
       "date_of_birth": "1990-13-01"}],
     'step 2 (create_holder): "date_of_birth" must be a date as YYYY-MM-DD'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "statement", "account": "a", "from": "2026-02-01", "to": "2026-01-31"}],
     'step 3 (statement): "to" must not be before "from"'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "deposit", "account": "a", "amount": "12.345"}],
     'step 3 (deposit): "amount" must have at most 2 decimals in USD'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "JPY"},
      {"step": "open_account", "name": "b", "currency": "USD"},
      {"step": "transfer", "from": "a", "to": "b", "amount": "1.50"}],
     'step 4 (transfer): "amount" must have no decimals in JPY'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "USD"},
      {"step": "withdraw", "account": "a", "amount": "90071992547409.92"}],
     'step 3 (withdraw): "amount" must be at most 90071992547409.91 USD'),
    ([{"step": "login", "username": "u", "password": "p"},
      {"step": "open_account", "name": "a", "currency": "XAU"}],
     'step 2 (open_account): "currency" must be an ISO 4217 code with minor units, such as USD'),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), MALFORMED)
def test_a_malformed_steps_file_exits_2_and_sends_nothing(
    *,
    demo: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: Any,
    message: str,
) -> None:
    def no_request(*_: object, **__: object) -> None:
        pytest.fail("the demo client sent a request")

    monkeypatch.setattr(httpx.Client, "send", no_request)
    path = tmp_path / "steps.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    run = run_demo(demo, capsys, "--url", "http://127.0.0.1:1", "--steps", str(path), "--json")
    assert run.returncode == 2
    record = json.loads(run.stdout)
    assert (record["step"], record["ok"], record["error"]["code"]) == (
        None, False, "INVALID_STEPS",
    )  # fmt: skip
    assert message in record["error"]["message"]
    assert re.fullmatch(rf"demo_client: INVALID_STEPS: .*{re.escape(message)}.* - nothing was "
                        r"sent\n", run.stderr)  # fmt: skip


def test_a_refused_connection_is_reported_with_exit_1(
    demo: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    run = run_demo(demo, capsys, "--url", base, "--steps", str(EXAMPLE))
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.startswith(
        f"[1] signup FAILED: UNREACHABLE: no answer from {base}/graphql: cannot connect ("
    )
    assert "Connection refused" in run.stderr
    assert "is the server running?" in run.stderr


BAD_URLS = [
    ("127.0.0.1:8765", "must start with http:// or https://"),
    ("localhost:8765", "must start with http:// or https://"),
    ("ftp://127.0.0.1:8765", "must start with http:// or https://"),
    ("http://", "must name a host"),
    ("http://127.0.0.1:8765/?debug=1", "must have no query or fragment"),
    ("http://127.0.0.1:99999", "must have a port from 1 to 65535"),
    ("http://127.0.0.1:abc", "must be a URL (Invalid port: 'abc')"),
]


@pytest.mark.parametrize(("url", "problem"), BAD_URLS)
def test_a_url_that_is_not_a_server_url_exits_2_and_sends_nothing(
    *,
    demo: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    problem: str,
) -> None:
    def no_request(*_: object, **__: object) -> None:
        pytest.fail("the demo client sent a request")

    monkeypatch.setattr(httpx.Client, "send", no_request)
    run = run_demo(demo, capsys, "--url", url, "--steps", str(EXAMPLE), "--json")
    assert run.returncode == 2
    message = f"--url {url} {problem}, e.g. http://127.0.0.1:8000"
    assert json.loads(run.stdout) == {
        "step": None, "index": None, "ok": False,
        "error": {"code": "INVALID_URL", "message": message, "requestId": None, "field": None},
    }  # fmt: skip
    assert run.stderr == f"demo_client: INVALID_URL: {message} - nothing was sent\n"


def test_a_bad_url_is_refused_before_asking_and_a_bad_answer_is_asked_again(
    demo: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("127.0.0.1:8765\nhttp://127.0.0.1:1\n"))
    run = run_demo(demo, capsys, "--url", "localhost:8765")
    assert (run.returncode, run.stderr) == (
        2, "demo_client: INVALID_URL: --url localhost:8765 must start with http:// or https://, "
        "e.g. http://127.0.0.1:8000 - nothing was sent\n",
    )  # fmt: skip
    run = run_demo(demo, capsys)
    assert run.returncode == 2  # the input ended after the URL
    assert run.stderr.startswith(
        "Server URL [http://127.0.0.1:8000]: "
        "  not a valid answer: 127.0.0.1:8765 (must start with http:// or https://)\n"
        "Server URL [http://127.0.0.1:8000]: Username ["
    )


LOST_OR_NOT = [
    (httpx.ConnectError("refused"), False, "cannot connect (refused); is the server running?"),
    (httpx.ConnectTimeout("connect"), False, "cannot connect (timed out); is the server running?"),
    (httpx.PoolTimeout("pool"), False, "timed out"),
    (httpx.UnsupportedProtocol("no scheme"), False, "not an http or https URL (no scheme)"),
    (httpx.ProxyError("proxy refused"), False, "the proxy failed (proxy refused)"),
    (httpx.ReadError("reset"), True, "the connection dropped (ReadError)"),
    (httpx.WriteError("broken pipe"), True, "the connection dropped (WriteError)"),
    (httpx.ReadTimeout("read"), True, "timed out"),
    (httpx.RemoteProtocolError("closed"), True, "the connection dropped (RemoteProtocolError)"),
]


@pytest.mark.parametrize(("error", "lost", "reason"), LOST_OR_NOT)
def test_only_a_failure_after_the_request_may_have_reached_the_server_resends_money(
    *,
    demo: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    error: httpx.TransportError,
    lost: bool,
    reason: str,
) -> None:
    api = importlib.import_module("demo_api")
    monkeypatch.setattr(api.time, "sleep", lambda _: None)
    sent: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise error

    client = api.LedgerClient(
        "http://ledger.test", httpx.Client(transport=httpx.MockTransport(fail))
    )
    variables = {"input": {"accountId": "QQ==", "amount": 100, "idempotencyKey": "k"}}
    with pytest.raises(api.DemoFailure) as raised:
        client.mutate(api.DEPOSIT, "deposit", variables, resends=api.RESENDS)
    client.close()
    failure = raised.value
    assert (failure.code, failure.answer_lost) == ("UNREACHABLE", lost)
    assert failure.message == f"no answer from http://ledger.test/graphql: {reason}"
    assert len(sent) == (1 + api.RESENDS if lost else 1)
    assert len({request.content for request in sent}) == 1  # a resend carries the same key


def test_amounts_become_minor_units_by_the_currency_exponent(demo: ModuleType) -> None:
    steps = importlib.import_module("demo_steps")
    assert steps.minor_units("100.00", 2, "USD") == 10000
    assert steps.minor_units("1.5", 2, "USD") == 150
    assert steps.minor_units("1500", 0, "JPY") == 1500
    assert steps.minor_units("1.234", 3, "KWD") == 1234
    with pytest.raises(steps.StepsError, match=r"^1\.5 JPY: the currency has no decimal places$"):
        steps.minor_units("1.5", 0, "JPY")


def test_the_demo_client_imports_nothing_of_the_server() -> None:
    server_packages = {"graph", "auth", "db", "core", "tests"}
    imported: set[str] = set()
    for path in sorted(SCRIPTS.glob("demo_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                imported.add(node.module.split(".")[0])
    assert imported & server_packages == set()
    assert {"httpx", "demo_api", "demo_steps", "demo_runner"} <= imported
