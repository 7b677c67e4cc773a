"""Money under concurrency at scale: many money movements fired at once over real HTTP.

Migrates a database (a temp SQLite file by default, `--database-url`, or a throwaway PostgreSQL
cluster with `--throwaway-postgres`), starts `ledgerql serve` on a loopback port, and for each
scenario fires all its requests at once with asyncio.gather:

* withdraw > balance: `--requests` withdrawals of 70 from an account holding 10 000
* transfer > balance: `--requests` transfers of 70 out of an account holding 10 000
* deposits:           `--requests` deposits of 25 into an empty account
* opposite transfers: half A->B of 30, half B->A of 20, interleaved, both holding 10 000

It prints how many succeeded, the rejections by error code, the final balances, whether each
balance equals the sum of its ledger lines (read through SQL, entries chained 1..n) and the
wall time of the burst. Figures only: nothing is asserted.

    .venv/bin/python bench/money_concurrency.py                        # temp SQLite file
    .venv/bin/python bench/money_concurrency.py --throwaway-postgres
    .venv/bin/python bench/money_concurrency.py --database-url postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ledgerql_serve, server_env  # noqa: E402
from bench.common import serving as run_server  # noqa: E402
from core.settings import Settings  # noqa: E402
from db.migrations import upgrade_to_head  # noqa: E402
from db.session import Database  # noqa: E402
from tests.support.identity import SignedIn, signed_in  # noqa: E402
from tests.support.money import create_holder  # noqa: E402
from tests.support.money_load import (  # noqa: E402
    OK,
    Move,
    at_once,
    funded_account,
    ledger,
    load_client,
    tally,
)

START = 10_000
WITHDRAWAL = 70


@dataclass
class Result:
    """One scenario's figures."""

    scenario: str
    attempted: int
    expected_ok: int
    outcomes: dict[str, int]
    balances: list[int]
    consistent: bool
    seconds: float


@asynccontextmanager
async def serving(database_url: str, workdir: Path, workers: int) -> AsyncIterator[str]:
    """Run `ledgerql serve` on the migrated database until the block exits; yields host:port."""
    env = server_env(database_url, workdir, LOG_LEVEL="WARNING", BCRYPT_ROUNDS="4")
    async with run_server(ledgerql_serve(workers), env, workdir / "server.log") as base:
        yield base.removeprefix("http://")


@dataclass(frozen=True)
class Scenario:
    """Requests to fire at once, the accounts they touch and how many should succeed."""

    name: str
    moves: list[Move]
    accounts: list[str]
    expected_ok: int


async def burst(address: str, user: SignedIn, database: Database, scenario: Scenario) -> Result:
    """Fire every move at once, then read back the accounts' balances and ledgers."""
    async with load_client(address) as http:  # fresh connections: no stale keep-alives
        started = time.perf_counter()
        outcomes = await at_once(http, user, scenario.moves)
        seconds = time.perf_counter() - started
    ledgers = [await ledger(database, account) for account in scenario.accounts]
    return Result(
        scenario.name, len(scenario.moves), scenario.expected_ok, dict(tally(outcomes)),
        [found.balance for found in ledgers], all(found.consistent for found in ledgers), seconds,
    )  # fmt: skip


async def build_scenarios(http: httpx.AsyncClient, user: SignedIn, requests: int) -> list[Scenario]:
    """The four scenarios, each on fresh accounts of `user`."""
    drained = await funded_account(http, user, START)
    source = await funded_account(http, user, START)
    target = await funded_account(http, user, 0)
    empty = await funded_account(http, user, 0)
    first = await funded_account(http, user, START)
    second = await funded_account(http, user, START)
    within_balance = min(requests, START // WITHDRAWAL)
    return [
        Scenario(
            "withdraw > balance",
            [Move("withdraw", (drained,), WITHDRAWAL) for _ in range(requests)],
            [drained], within_balance,
        ),
        Scenario(
            "transfer > balance",
            [Move("transfer", (source, target), WITHDRAWAL) for _ in range(requests)],
            [source, target], within_balance,
        ),
        Scenario("deposits", [Move("deposit", (empty,), 25) for _ in range(requests)],
                 [empty], requests),
        Scenario(
            "opposite transfers",
            [
                request
                for _ in range(requests // 2)
                for request in (
                    Move("transfer", (first, second), 30), Move("transfer", (second, first), 20)
                )
            ],
            [first, second], requests // 2 * 2,
        ),
    ]  # fmt: skip


def print_table(title: str, results: list[Result]) -> None:
    """One row per scenario."""
    print(title)
    header = (
        f"  {'scenario':<20}{'attempted':>10}{'ok':>6}{'expected ok':>13}  "
        f"{'rejected (by code)':<30}{'final balances':<18}{'ledger = balance':<18}"
        f"{'wall s':>8}{'req/s':>8}"
    )
    print(header)
    for row in results:
        rejected = ", ".join(
            f"{code} {count}" for code, count in sorted(row.outcomes.items()) if code != OK
        )
        balances = " / ".join(str(amount) for amount in row.balances)
        print(
            f"  {row.scenario:<20}{row.attempted:>10}{row.outcomes.get(OK, 0):>6}"
            f"{row.expected_ok:>13}  {rejected or '-':<30}{balances:<18}"
            f"{'yes' if row.consistent else 'NO':<18}{row.seconds:>8.2f}"
            f"{row.attempted / row.seconds:>8.0f}"
        )


def server_failures(log_path: Path) -> Counter[str]:
    """The unexpected errors the server logged, by the last line of their traceback."""
    found: Counter[str] = Counter()
    for line in log_path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("level") in {"error", "critical"}:
            cause = str(event.get("exception", "")).strip().splitlines()[-1:] or [""]
            found[f"{event.get('event')}: {cause[0][:110]}"] += 1
    return found


async def measure(database_url: str, requests: int, workers: int) -> None:
    """Migrate, serve, run the scenarios and print their figures."""
    await asyncio.to_thread(upgrade_to_head, database_url)
    settings = Settings(_env_file=None, database_url=database_url, app_env="test")
    database = Database(settings)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            async with (
                serving(database_url, Path(workdir), workers) as address,
                load_client(address) as http,
            ):
                user = await signed_in(http, f"bench_{uuid.uuid4().hex[:10]}")
                await create_holder(http, user)
                results = [
                    await burst(address, user, database, scenario)
                    for scenario in await build_scenarios(http, user, requests)
                ]
            failures = server_failures(Path(workdir) / "server.log")
        title = (
            f"{database.dialect}: {requests} concurrent requests per scenario, "
            f"`ledgerql serve --workers {workers}`"
        )
        print_table(title, results)
        for failure, count in failures.most_common():
            print(f"  server logged {count} x {failure}")
    finally:
        await database.dispose()


async def throwaway_postgres_url() -> tuple[Any, str]:
    """Start a private PostgreSQL cluster (the test suite's) and create a database in it."""
    from tests.support.postgres import ThrowawayPostgres  # noqa: PLC0415

    cluster = ThrowawayPostgres()
    admin = cluster.start()
    connection = await asyncpg.connect(
        make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await connection.execute("CREATE DATABASE bench")
    await connection.close()
    return cluster, make_url(admin).set(database="bench").render_as_string(hide_password=False)


async def main() -> None:
    """Run the scenarios against the chosen database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    parser.add_argument(
        "--throwaway-postgres", action="store_true", help="start a private PostgreSQL cluster"
    )
    parser.add_argument("--requests", type=int, default=200, help="concurrent requests each")
    parser.add_argument("--workers", type=int, default=1, help="`ledgerql serve` processes")
    args = parser.parse_args()
    if args.throwaway_postgres:
        cluster, url = await throwaway_postgres_url()
        try:
            await measure(url, args.requests, args.workers)
        finally:
            cluster.stop()
    elif args.database_url:
        await measure(args.database_url, args.requests, args.workers)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            await measure(f"sqlite+aiosqlite:///{workdir}/bench.db", args.requests, args.workers)


if __name__ == "__main__":
    asyncio.run(main())
