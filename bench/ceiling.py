"""How fast can this stack answer W1-W3 at all? LedgerQL, PostGraphile and the stack's ceiling.

On a throwaway PostgreSQL database seeded by `seed-demo`, in one run, rounds alternate between:

* LedgerQL (`ledgerql serve`, RESPONSE_CACHE=off: every operation executed);
* PostGraphile v4 (bench/peer.py, no authentication);
* the stack's ceiling (bench/ceiling_app.py): Strawberry on Starlette and uvicorn answering the
  same documents with the same types from memory, without database, token check or extensions;
* the SQL floor (bench/sql_floor.py), for W2 and W3.

Before measuring, the ceiling's answers are checked equal to LedgerQL's for every demo user.
Every server gets `--workers` processes. The ceiling's rate bounds what any server built on
Strawberry, Starlette and uvicorn can answer for these documents on this machine: a target above
it cannot be reached by cutting LedgerQL's own work (database, auth, audit, extensions).

    .venv/bin/python bench/ceiling.py --runs 3 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peer  # noqa: E402
from bench.common import (  # noqa: E402
    DemoUser,
    graphql_request,
    ledgerql,
    ledgerql_serve,
    server_env,
    serving,
    sign_in_demo_users,
    throwaway_postgres,
)
from bench.versus import PLAIN, alternate, rate, saturating  # noqa: E402
from bench.workloads import W1, W2, W3, failures  # noqa: E402

# W2 with the accounts' ids, so the ceiling can serve W3 for the same accounts.
W2_WITH_IDS = W2.replace("node { balance", "node { id balance")
W3_EVERY_ACCOUNT = (
    "query($id: ID!) { account(id: $id) { transactions(first: 100) { edges { node { "
    "amount { amount } type createdAt } } } } }"
)


async def _data(http: httpx.AsyncClient, query: str, variables: dict[str, Any],
                user: DemoUser) -> dict[str, Any]:  # fmt: skip
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers=user.headers)  # fmt: skip
    body = response.json()
    if "errors" in body:
        raise SystemExit(f"LedgerQL refused a data query for {user.username}: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


async def ledgerql_answers(base: str, users: list[DemoUser]) -> dict[str, Any]:
    """Every user's W1, W2 (with ids) and W3 answers, by bearer token: the ceiling's data."""
    answers: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for user in users:
            w2 = await _data(http, W2_WITH_IDS, {}, user)
            w3 = {}
            for edge in w2["me"]["accounts"]["edges"]:
                page = await _data(http, W3_EVERY_ACCOUNT, {"id": edge["node"]["id"]}, user)
                w3[edge["node"]["id"]] = page["account"]["transactions"]
            answers[user.token] = {"w1": await _data(http, W1, {}, user), "w2": w2, "w3": w3}
    return answers


async def check_ceiling(ledgerql_base: str, ceiling: str, users: list[DemoUser]) -> list[str]:
    """Documents whose ceiling answer differs from LedgerQL's (empty: all equal)."""
    mismatches = []
    async with (
        httpx.AsyncClient(base_url=ledgerql_base, timeout=60) as ours,
        httpx.AsyncClient(base_url=ceiling, timeout=60) as theirs,
    ):
        for user in users:
            for name, query, variables in (("W1", W1, {}), ("W2", W2, {}),
                                           ("W3", W3, {"id": user.accounts[0]})):  # fmt: skip
                expected = await _data(ours, query, variables, user)
                got = await _data(theirs, query, variables, user)
                if got != expected:
                    mismatches.append(f"{name} {user.username}: {got!r:.200} != {expected!r:.200}")
    return mismatches


def _row(name: str, results: dict[str, list[Any]], contenders: list[str]) -> None:
    figures = {who: rate(results[who]) for who in contenders}
    peer_rps = figures.get("postgraphile")
    cells = []
    for who in contenders:
        ratio = f" ({figures[who] / peer_rps:.2f}x PG)" if peer_rps else ""
        cells.append(f"{who} {figures[who]:.0f}{ratio}")
    failed = ", ".join(f"{who} {failures(results[who])}" for who in contenders)
    print(f"| {name} | {' / '.join(cells)} | {failed} |", flush=True)


async def measure(database_url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Seed, serve the four contenders and run the alternating rounds."""
    env = server_env(database_url, workdir, RESPONSE_CACHE="off")
    ledgerql(env, "migrate")
    ledgerql(env, "seed-demo")
    peer.install()
    workers = str(args.workers)
    async with AsyncExitStack() as stack:
        ours = await stack.enter_async_context(
            serving(ledgerql_serve(args.workers), env, workdir / "ledgerql.log")
        )
        users = await sign_in_demo_users(ours)
        data = workdir / "ceiling.json"
        data.write_text(json.dumps(await ledgerql_answers(ours, users)))
        ceiling_argv = [sys.executable, "-m", "uvicorn", "bench.ceiling_app:app", "--workers",
                        workers, "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                        "--log-level", "warning"]  # fmt: skip
        ceiling = await stack.enter_async_context(serving(
            ceiling_argv, {**env, "CEILING_DATA": str(data)}, workdir / "ceiling.log",
            ready_query="{ __typename }",
        ))  # fmt: skip
        postgraphile = await stack.enter_async_context(serving(
            peer.postgraphile_argv(database_url, args.workers), env, workdir / "peer.log",
            ready_query="{ __typename }",
        ))  # fmt: skip
        floor_argv = [sys.executable, "-m", "uvicorn", "bench.sql_floor:app", "--workers",
                      workers, "--log-level", "warning"]  # fmt: skip
        floor = await stack.enter_async_context(serving(
            floor_argv, {**env, "FLOOR_DATABASE_URL": database_url}, workdir / "floor.log"
        ))  # fmt: skip
        mismatches = await check_ceiling(ours, ceiling, users)
        holders = await peer.holders_of(database_url, users)
        print(f"\n## stack ceiling, PostgreSQL, {args.workers} workers each, medians of "
              f"{args.runs} x {args.seconds:.0f} s rounds (req/s)\n")  # fmt: skip
        print(f"ceiling answers = LedgerQL's for {len(users)} users: "
              f"{'yes' if not mismatches else 'NO: ' + ', '.join(mismatches)}\n")  # fmt: skip
        print("| workload | req/s (ratio to PostGraphile) | failed |\n|---|---|---|")
        w2 = {
            "ledgerql": [graphql_request(W2, None, u.headers) for u in users],
            "postgraphile": [graphql_request(peer.PEER_W2, {"holder": holders[u.username]}, PLAIN)
                             for u in users],
            "ceiling": [graphql_request(W2, None, u.headers) for u in users],
            "floor": [{"method": "GET", "path": f"/floor?user={u.user_uuid}"} for u in users],
        }  # fmt: skip
        w3 = {
            "ledgerql": [graphql_request(W3, {"id": u.accounts[0]}, u.headers) for u in users],
            "postgraphile": [graphql_request(peer.PEER_W3, {"account": peer.uuid_of(u.accounts[0])},
                                             PLAIN) for u in users],
            "ceiling": [graphql_request(W3, {"id": u.accounts[0]}, u.headers) for u in users],
            "floor": [{"method": "GET",
                       "path": f"/floor/transactions?account={peer.uuid_of(u.accounts[0])}"}
                      for u in users],
        }  # fmt: skip
        w1 = {who: [graphql_request(W1, None, u.headers) for u in users]
              for who in ("ledgerql", "ceiling")}  # fmt: skip
        bases = {"ledgerql": ours + "/graphql", "postgraphile": postgraphile + "/graphql",
                 "ceiling": ceiling + "/graphql", "floor": floor + "/floor"}  # fmt: skip
        for name, requests in (("W2 dashboard", w2), ("W3 transactions(first: 100)", w3),
                               ("W1 me { id email }", w1)):  # fmt: skip
            loads = {who: saturating(bases[who], batch) for who, batch in requests.items()}
            results = await alternate(loads, args.runs, args.seconds)
            _row(name, results, list(requests))


def main() -> None:
    """Run the comparison on a throwaway PostgreSQL cluster."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each round")
    parser.add_argument("--workers", type=int, default=2, help="workers of every server")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres() as url:
        asyncio.run(measure(url, Path(tmp), args))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
