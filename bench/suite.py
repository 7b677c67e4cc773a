"""The LedgerQL benchmark suite: workloads W1-W7 with their baselines, measured in one run.

For each backend (a temp SQLite file, and a throwaway PostgreSQL cluster): migrate, `seed-demo`,
start `ledgerql serve --workers 2` (bcrypt cost 12; fair-use limits lifted, see bench/common.py),
sign in demo1..demo5, then per workload a warm-up and the median of `--runs` runs of:

* W1 `me { id email }`; W2 the dashboard; W3 one account's `transactions(first: 100)`:
  requests/s at saturation, then p50/p95/p99 at a fixed rate (paced by autocannon);
* W4 `login` at saturation while W1 runs at 200 requests/s (its p99 is reported);
* W5 `transfer` of 1 between the demo users' own accounts, both ways, unique idempotency keys;
  afterwards every balance must equal the sum of its ledger lines and money must be conserved;
* W6 500 WebSocket subscribers to `auditEvents`, 10 events/s for 10 s (`ledgerql serve` with one
  worker on SQLite, which fans events out only within its own process);
* c1000: W1 and W2 with 1,000 concurrent connections (p95);
* W7 login storm: 100 concurrent wrong logins (bcrypt cost 12, names of their own so none is
  locked or limited) while `{ health { status } }` is asked back to back: its p50/p99 during
  the storm, and how many logins answered INTERNAL (bench/storm.py).

Baselines in the same run: the SQL floor of W2 (bench/sql_floor.py, two workers), bcrypt cost-12
checks/s on every core, raw transfer writes (bench/raw_floors.py). Every response is checked
(HTTP 200, `data`, no error anywhere): only those count. Prints a table per backend.

    ./dev bench                                # both backends
    .venv/bin/python bench/suite.py --backend sqlite --runs 1 --seconds 5
    .venv/bin/python bench/suite.py --backend sqlite --only w1 w4     # some workloads only
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    DEMO_PASSWORD,
    LOGIN,
    DemoUser,
    autocannon,
    graphql_request,
    ledgerql,
    ledgerql_serve,
    server_env,
    serving,
    sign_in_demo_users,
    throwaway_postgres,
)
from bench.raw_floors import bcrypt_floor, transfer_floor  # noqa: E402
from bench.storm import login_storm  # noqa: E402
from bench.subscribers import delivery  # noqa: E402
from bench.transfers import ledger_state  # noqa: E402

W1 = "{ me { id email } }"
W2 = (
    "{ me { accounts(first: 10) { edges { node { balance { amount currency } "
    "transactions(first: 10) { edges { node { amount { amount } type createdAt } } } "
    "cards { last4 status } } } } } }"
)
W3 = (
    "query($id: ID!) { account(id: $id) { transactions(first: 100) { edges { node { "
    "amount { amount } type createdAt } } } } }"
)
WORKLOADS = ["w1", "w2", "w3", "w4", "w5", "c1000", "w6", "w7"]
W5 = "mutation($i: TransferInput!) { transfer(input: $i) { transfer { id } errors { code } } }"


def transfer_requests(users: list[DemoUser]) -> list[dict[str, Any]]:
    """W5: a transfer of 1 between each user's first two accounts, both ways, unique keys."""
    requests = []
    for user in users:
        first, second = user.accounts[0], user.accounts[1]
        for source, target in ((first, second), (second, first)):
            variables = {"i": {"fromAccountId": source, "toAccountId": target, "amount": 1,
                               "idempotencyKey": "bench-[<id>]"}}  # fmt: skip
            requests.append(graphql_request(W5, variables, user.headers))
    return requests


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    figure: str
    baseline: str = "-"
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """The median of one figure over runs (ignoring missing values)."""
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def failures(runs: list[dict[str, Any]]) -> str:
    """Failed responses over all runs, with the first failing body if any."""
    total = sum(run["failures"] for run in runs)
    example = next((run["failedExample"] for run in runs if run.get("failedExample")), None)
    return f"{total}" + (f" (e.g. {example[:120]})" if example else "")


class Suite:
    """The workloads against one running server."""

    def __init__(self, base: str, users: list[DemoUser], runs: int, seconds: float) -> None:
        self.base = base
        self.users = users
        self.runs = runs
        self.seconds = seconds
        self.rows: list[Row] = []
        self.warmup: dict[str, Any] = {}

    def requests(
        self, query: str, variables: Callable[[DemoUser], dict[str, Any] | None]
    ) -> list[dict[str, Any]]:
        """One request per demo user (each connection cycles through them)."""
        return [graphql_request(query, variables(user), user.headers) for user in self.users]

    async def repeat(self, load: Callable[[], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
        """`runs` runs of one load."""
        return [await load() for _ in range(self.runs)]

    async def saturate(
        self, requests: list[dict[str, Any]], connections: int, **extra: Any
    ) -> list[dict[str, Any]]:
        """Warm up, then requests/s at saturation (median of runs)."""
        url = self.base + "/graphql"
        self.warmup = await autocannon(url, requests, connections=connections, seconds=2, **extra)
        return await self.repeat(
            lambda: autocannon(
                url, requests, connections=connections, seconds=self.seconds, **extra
            )
        )

    async def paced(
        self, requests: list[dict[str, Any]], rate: int, connections: int = 50
    ) -> list[dict[str, Any]]:
        """Latency percentiles at a fixed request rate (median of runs)."""
        url = self.base + "/graphql"
        return await self.repeat(
            lambda: autocannon(
                url, requests, connections=connections, seconds=self.seconds, rate=rate
            )
        )

    def latency_row(
        self, name: str, runs: list[dict[str, Any]], rate: int, target_p99: float | None
    ) -> None:
        """A row of p50/p95/p99 at a fixed rate."""
        p99 = median_of(runs, "p99")
        p50, p95 = median_of(runs, "p50"), median_of(runs, "p95")
        figure = f"p50 {p50:.1f} / p95 {p95:.1f} / p99 {p99:.1f} ms"
        figure += f"; {median_of(runs, 'rps'):.0f} ok/s; failed {failures(runs)}"
        target = f"p99 <= {target_p99:g} ms" if target_p99 else "-"
        met = (p99 <= target_p99) if target_p99 else None
        self.rows.append(Row(f"{name} @ {rate}/s", figure, target=target, met=met))

    async def w1(self) -> None:
        """`me { id email }`: saturation, then 1,000 requests/s."""
        requests = self.requests(W1, lambda _: None)
        runs = await self.saturate(requests, connections=32)
        rps = median_of(runs, "rps")
        self.rows.append(Row("W1 me (saturation)", f"{rps:.0f} req/s; failed {failures(runs)}",
                             target=">= 2000 req/s", met=rps >= 2000))  # fmt: skip
        self.latency_row("W1 me", await self.paced(requests, 1000), 1000, 25)

    async def w2(self, floor: str) -> None:
        """The dashboard against the SQL floor."""
        requests = self.requests(W2, lambda _: None)
        runs = await self.saturate(requests, connections=32)
        floor_requests = [
            {"method": "GET", "path": f"/floor?user={user.user_uuid}"} for user in self.users
        ]
        floor_runs = [
            await autocannon(floor + "/floor", floor_requests, connections=32, seconds=self.seconds)
            for _ in range(self.runs)
        ]
        rps, floor_rps = median_of(runs, "rps"), median_of(floor_runs, "rps")
        self.rows.append(Row(
            "W2 dashboard (saturation)", f"{rps:.0f} req/s; failed {failures(runs)}",
            f"SQL floor {floor_rps:.0f} req/s", rps / floor_rps, ">= 0.50 of floor",
            rps / floor_rps >= 0.5,
        ))  # fmt: skip
        rate = max(10, int(rps / 2))
        self.latency_row("W2 dashboard", await self.paced(requests, rate), rate, None)

    async def w3(self) -> None:
        """One account's hundred newest transactions."""
        requests = self.requests(W3, lambda user: {"id": user.accounts[0]})
        runs = await self.saturate(requests, connections=32)
        per_worker = median_of(runs, "rps") / 2
        self.rows.append(Row("W3 transactions(first: 100) (saturation)",
                             f"{per_worker:.0f} req/s per worker; failed {failures(runs)}",
                             target=">= 250 req/s per worker", met=per_worker >= 250))  # fmt: skip
        rate = max(10, int(per_worker))
        self.latency_row("W3 transactions", await self.paced(requests, rate), rate, None)

    async def w4(self) -> None:
        """Logins at saturation while W1 runs at 200 requests/s."""
        floor = await asyncio.to_thread(bcrypt_floor)
        logins = [
            graphql_request(LOGIN, {"i": {"username": u.username, "password": DEMO_PASSWORD}},
                            {"content-type": "application/json"})
            for u in self.users
        ]  # fmt: skip
        me = self.requests(W1, lambda _: None)
        url = self.base + "/graphql"
        pairs = []
        for _ in range(self.runs):
            pairs.append(await asyncio.gather(
                autocannon(url, logins, connections=8, seconds=self.seconds),
                autocannon(url, me, connections=10, seconds=self.seconds, rate=200),
            ))  # fmt: skip
        login_runs, me_runs = [p[0] for p in pairs], [p[1] for p in pairs]
        rps, p99 = median_of(login_runs, "rps"), median_of(me_runs, "p99")
        figure = f"{rps:.1f} logins/s; failed {failures(login_runs)}"
        baseline = f"bcrypt floor {floor:.1f} checks/s"
        self.rows.append(
            Row("W4 login, bcrypt 12 (saturation)", figure, baseline, rps / floor,
                ">= 0.90 of floor", rps / floor >= 0.9)
        )  # fmt: skip
        self.rows.append(Row("W4 ... W1 @ 200/s meanwhile",
                             f"p99 {p99:.1f} ms; failed {failures(me_runs)}",
                             target="p99 <= 50 ms", met=p99 <= 50))  # fmt: skip

    async def w5(self, database_url: str) -> None:
        """Transfers between own accounts, both ways, against the raw-driver floor."""
        requests = transfer_requests(self.users)
        consistent_before, money_before, transfers_before = await ledger_state(database_url)
        runs = await self.saturate(requests, connections=16, id_replacement=True)
        await asyncio.sleep(3)  # let transfers still in flight when autocannon stopped commit
        consistent, money, transfers = await ledger_state(database_url)
        answered = sum(run["ok"] for run in [self.warmup, *runs])
        exact = consistent_before and consistent and money == money_before
        # autocannon stops waiting at the end of a run; requests still in flight then complete
        # on the server unanswered, so at most `connections` per run may be stored in excess.
        stored = transfers - transfers_before
        exact = exact and answered <= stored <= answered + 16 * (len(runs) + 1)
        detail = (
            f"{stored} transfers stored for {answered} answered (the rest were in flight); "
            f"every balance = its lines: {'yes' if consistent else 'NO'}; "
            f"money conserved: {'yes' if money == money_before else 'NO'}"
        )
        floor_runs = [
            await transfer_floor(database_url, 16, self.seconds) for _ in range(self.runs)
        ]
        rps = median_of(runs, "rps")
        floor = statistics.median(run[0] for run in floor_runs)
        self.rows.append(Row(
            "W5 transfer (saturation)", f"{rps:.0f} transfers/s; failed {failures(runs)}; {detail}",
            f"raw driver {floor:.0f} transfers/s", rps / floor, ">= 0.40 of floor, no lost update",
            rps / floor >= 0.4 and exact,
        ))  # fmt: skip

    async def c1000(self) -> None:
        """W1 and W2 with 1,000 concurrent connections."""
        for name, query in (("W1", W1), ("W2", W2)):
            runs = await self.saturate(self.requests(query, lambda _: None), connections=1000)
            p95 = median_of(runs, "p95")
            self.rows.append(Row(f"c1000: {name} with 1000 connections",
                                 f"p95 {p95:.0f} ms; {median_of(runs, 'rps'):.0f} ok/s; "
                                 f"failed {failures(runs)}",
                                 target="p95 < 200 ms", met=p95 < 200))  # fmt: skip

    async def w7(self) -> None:
        """A storm of 100 concurrent wrong logins while a cheap query keeps being asked."""
        runs = [await login_storm(self.base, logins=100) for _ in range(self.runs)]
        p50, p99 = median_of(runs, "p50"), median_of(runs, "p99")
        internal = sum(run["internal"] for run in runs)
        codes: dict[str, int] = {}
        for run in runs:
            for code, count in run["login_codes"].items():
                codes[code] = codes.get(code, 0) + count
        probes = sum(run["probes"] for run in runs)
        probe_failures = sum(run["probe_failures"] for run in runs)
        self.rows.append(Row(
            "W7 login storm: 100 wrong logins at once, `health` meanwhile",
            f"health p50 {p50:.1f} / p99 {p99:.1f} ms over {probes} queries "
            f"({probe_failures} failed); storm {median_of(runs, 'seconds'):.1f} s; "
            f"logins {codes}; INTERNAL {internal}",
            target="p99 < 100 ms, no INTERNAL", met=p99 < 100 and internal == 0,
        ))  # fmt: skip


async def w6(base: str, token: str, runs: int) -> Row:
    """500 subscribers, 10 events/s for 10 s."""
    results = [
        await delivery(base, token, subscribers=500, events=100, rate=10) for _ in range(runs)
    ]
    p99 = median_of(results, "p99")
    got = sum(r["delivered"] for r in results)
    expected = sum(r["expected"] for r in results)
    return Row(
        "W6 500 subscribers, 10 events/s",
        f"p50 {median_of(results, 'p50'):.1f} / p95 {median_of(results, 'p95'):.1f} / p99 {p99:.1f}"
        f" ms; delivered {got}/{expected}",
        target="p99 <= 100 ms",
        met=p99 <= 100 and got == expected,
    )


def print_table(backend: str, rows: list[Row]) -> None:
    """The results of one backend."""
    print(f"\n## {backend}\n")
    print("| workload | figure (median of runs) | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        print(
            f"| {row.workload} | {row.figure} | {row.baseline} | {ratio} | {row.target} | {met} |"
        )
    sys.stdout.flush()


async def measure(backend: str, database_url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Seed, serve and run every workload on one database."""
    env = server_env(database_url, workdir)
    started = time.perf_counter()
    ledgerql(env, "migrate")
    ledgerql(env, "seed-demo")
    print(f"[{backend}] migrated and seeded in {time.perf_counter() - started:.0f} s", flush=True)
    floor_env = {**env, "FLOOR_DATABASE_URL": database_url}
    floor_argv = [sys.executable, "-m", "uvicorn", "bench.sql_floor:app", "--workers", "2",
                  "--log-level", "warning"]  # fmt: skip
    rows: list[Row] = []
    async with serving(ledgerql_serve(2), env, workdir / "server.log") as base:
        users = await sign_in_demo_users(base)
        suite = Suite(base, users, args.runs, args.seconds)
        chosen = set(args.only)
        if "w1" in chosen:
            await suite.w1()
        if "w2" in chosen:
            async with serving(floor_argv, floor_env, workdir / "floor.log") as floor:
                await suite.w2(floor)
        steps = {"w3": suite.w3, "w4": suite.w4, "w5": lambda: suite.w5(database_url),
                 "c1000": suite.c1000, "w7": suite.w7}  # fmt: skip
        for name, step in steps.items():
            if name in chosen:
                await step()
        rows = suite.rows
    if "w6" in chosen:
        workers = 1 if backend == "sqlite" else 2
        async with serving(ledgerql_serve(workers), env, workdir / "server-w6.log") as base:
            users = await sign_in_demo_users(base, count=1)
            rows.append(await w6(base, users[0].token, args.runs))
    print_table(f"{backend} ({time.perf_counter() - started:.0f} s)", rows)


def main() -> None:
    """Run the suite on the chosen backends."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each run")
    parser.add_argument(
        "--only", nargs="+", choices=WORKLOADS, default=WORKLOADS, help="run only these workloads"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            workdir = Path(tmp)
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{workdir}/bench.db"
            else:
                url = stack.enter_context(throwaway_postgres())
            asyncio.run(measure(backend, url, workdir, args))


if __name__ == "__main__":
    main()
