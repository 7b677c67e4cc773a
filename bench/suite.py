"""The LedgerQL benchmark suite: W1-W7 and seed 004 with their baselines, in one run per backend.

For each backend (a temp SQLite file, and a throwaway PostgreSQL cluster): migrate, `seed-demo`,
start `ledgerql serve --workers N` (bcrypt cost 12; fair-use limits lifted, see bench/common.py),
sign in demo1..demo5, then:

* W1 `me { id email }`: requests/s at saturation, p50/p95/p99 at 1,000 requests/s, and the round
  trips of one W1 counted in-process (bench/statements.py);
* W2 the dashboard and W3 one account's `transactions(first: 100)` "cold" (a second LedgerQL with
  `RESPONSE_CACHE=off`): rounds alternating LedgerQL / PostGraphile v4 (PostgreSQL only, no auth,
  bench/peer.py) / the SQL floor (bench/sql_floor.py), ratios of the medians; before measuring,
  both servers' answers are compared for every demo user; W2's round trips counted in-process;
* W2 warm: the cache on, each user making one transfer per 10 dashboards, against PostGraphile's
  W2 in the same rounds; W2 with `AUDIT_READS=all` against `AUDIT_READS=none` (two more servers);
* W4 `login` at saturation while W1 runs at 200 requests/s (its p99 is reported);
* W5 `transfer` of 1 between the demo users' own accounts, both ways, unique idempotency keys;
  afterwards every balance must equal the sum of its ledger lines and money must be conserved;
* seed 004: 1,000 open connections, 250 requests/s offered open-loop (bench/load/openloop.mjs)
  of 60% W2, 20% W3, 15% W1, 5% W5 over the demo users: p95, p99 and failures;
* W6 500 WebSocket subscribers to `auditEvents`, 10 events/s for 10 s (`ledgerql serve` with one
  worker on SQLite, which fans events out only within its own process);
* W7 login storm: 100 concurrent wrong logins (bcrypt cost 12, names of their own so none is
  locked or limited) while `{ health { status } }` is asked back to back: its p50/p99 during
  the storm, and how many logins answered INTERNAL (bench/storm.py).

Every response is checked (HTTP 200, `data`, no error anywhere): only those count. Environment
switches a server does not know yet (RESPONSE_CACHE) are ignored by it. Prints a table per backend.

    ./dev bench                                # both backends
    .venv/bin/python bench/suite.py --backend postgresql --runs 1 --seconds 3
    .venv/bin/python bench/suite.py --backend sqlite --only w1 w4     # some workloads only
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peer  # noqa: E402
from bench.common import (  # noqa: E402
    ledgerql,
    ledgerql_serve,
    server_env,
    serving,
    sign_in_demo_users,
    throwaway_postgres,
)
from bench.statements import round_trips  # noqa: E402
from bench.subscribers import delivery  # noqa: E402
from bench.versus import Versus, answers_row  # noqa: E402
from bench.workloads import W1, W2, W3, Row, Suite, median_of  # noqa: E402

WORKLOADS = ["w1", "w2", "w2warm", "w2audit", "w3", "w4", "w5", "seed004", "w6", "w7"]
COLD = {"RESPONSE_CACHE": "off"}


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


async def statement_rows(env: dict[str, str], suite: Suite, chosen: set[str]) -> None:
    """W1's and W2's round trips, each asked once of an in-process app on the seeded database."""
    user = suite.users[0]
    operations: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {}
    if "w1" in chosen:
        operations["W1"] = (W1, {}, user.headers)
    if "w2" in chosen:
        operations["W2"] = (W2, {}, user.headers)
    if not operations:
        return
    trips = await round_trips({**env, "LOG_LEVEL": "WARNING"}, operations)
    for name, target in (("W1", 1), ("W2", 6)):
        if name in trips:
            counted = trips[name]
            suite.rows.append(Row(
                f"{name} round trips per operation (in-process, first ask)", counted.describe(),
                target=f"<= {target} incl. BEGIN/COMMIT, no write",
                met=counted.total <= target and not counted.writes and not counted.errors,
            ))  # fmt: skip


async def versus(
    stack: AsyncExitStack, suite: Suite, args: argparse.Namespace, *, backend: str,
    database_url: str, env: dict[str, str], workdir: Path,
) -> None:  # fmt: skip
    """W2 and W3 cold, W2 warm and the audit pair: alternating rounds between servers."""
    chosen = set(args.only)
    workers = str(args.workers)
    peer_base = None
    holders: dict[str, str] = {}
    if backend == "postgresql" and chosen & {"w2", "w3", "w2warm"}:
        peer.install()
        peer_base = await stack.enter_async_context(serving(
            peer.postgraphile_argv(database_url, args.workers), env, workdir / "postgraphile.log",
            ready_query="{ __typename }",
        ))  # fmt: skip
        holders = await peer.holders_of(database_url, suite.users)
    cold = floor = ""
    if chosen & {"w2", "w3"}:
        cold = await stack.enter_async_context(
            serving(ledgerql_serve(args.workers), {**env, **COLD}, workdir / "server-cold.log")
        )
        floor_argv = [sys.executable, "-m", "uvicorn", "bench.sql_floor:app", "--workers",
                      workers, "--log-level", "warning"]  # fmt: skip
        floor_env = {**env, "FLOOR_DATABASE_URL": database_url}
        floor = await stack.enter_async_context(
            serving(floor_argv, floor_env, workdir / "floor.log")
        )
    rounds = Versus(cold, floor, peer_base, suite.users, holders, args.runs, args.seconds)
    if peer_base is not None and cold:
        mismatches = await peer.check_answers(cold, peer_base, suite.users, holders, w2=W2, w3=W3)
        rounds.rows.append(answers_row(mismatches, len(suite.users)))
    if "w2" in chosen:
        await rounds.w2()
    if "w2warm" in chosen:
        await rounds.w2_warm(suite.base)
    if "w2audit" in chosen:
        async with (
            serving(ledgerql_serve(args.workers), {**env, **COLD, "AUDIT_READS": "all"},
                    workdir / "server-audit-all.log") as audit_all,
            serving(ledgerql_serve(args.workers), {**env, **COLD, "AUDIT_READS": "none"},
                    workdir / "server-audit-none.log") as audit_none,
        ):  # fmt: skip
            await rounds.w2_audit(audit_all, audit_none)
    if "w3" in chosen:
        await rounds.w3()
    suite.rows.extend(rounds.rows)


async def measure(backend: str, database_url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Seed, serve and run the chosen workloads on one database."""
    env = server_env(database_url, workdir)
    started = time.perf_counter()
    ledgerql(env, "migrate")
    ledgerql(env, "seed-demo")
    print(f"[{backend}] migrated and seeded in {time.perf_counter() - started:.0f} s", flush=True)
    chosen = set(args.only)
    rows: list[Row] = []
    async with AsyncExitStack() as stack:
        base = await stack.enter_async_context(
            serving(ledgerql_serve(args.workers), env, workdir / "server.log")
        )
        users = await sign_in_demo_users(base)
        suite = Suite(base, users, args.runs, args.seconds)
        if "w1" in chosen:
            await suite.w1()
        await statement_rows(env, suite, chosen)
        await versus(stack, suite, args, backend=backend, database_url=database_url, env=env,
                     workdir=workdir)  # fmt: skip
        steps = {"w4": suite.w4, "w5": lambda: suite.w5(database_url), "seed004": suite.seed004,
                 "w7": suite.w7}  # fmt: skip
        for name, step in steps.items():
            if name in chosen:
                await step()
        rows = suite.rows
    if "w6" in chosen:
        workers = 1 if backend == "sqlite" else args.workers
        async with serving(ledgerql_serve(workers), env, workdir / "server-w6.log") as base:
            users = await sign_in_demo_users(base, count=1)
            rows.append(await w6(base, users[0].token, args.runs))
    title = f"{backend} ({time.perf_counter() - started:.0f} s; {args.workers} workers each)"
    if backend == "sqlite":
        title += "; PostGraphile: PostgreSQL only"
    print_table(title, rows)


def main() -> None:
    """Run the suite on the chosen backends."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each run")
    parser.add_argument("--workers", type=int, default=2, help="workers of every server")
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
