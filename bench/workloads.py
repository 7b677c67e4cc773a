"""The suite's workloads against one LedgerQL server: W1, W4, W5, W7 and the seed 004 mix.

Also what every part of the suite shares: the operations, a results row, medians and failures.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.common import (
    DEMO_PASSWORD,
    LOGIN,
    DemoUser,
    autocannon,
    graphql_request,
    open_loop,
)
from bench.raw_floors import bcrypt_floor, transfer_floor
from bench.storm import login_storm
from bench.transfers import ledger_state

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


# seed 004's mix per user, interleaved: 12 W2, 4 W3, 3 W1, 1 W5 in every 20 (60/20/15/5 %).
MIX_PATTERN = "23212232122325223212"  # one workload number per request


def mix_requests(users: list[DemoUser]) -> list[dict[str, Any]]:
    """seed 004's request list: the mix in turn for every demo user (W5 alternates direction)."""
    requests = []
    transfers = transfer_requests(users)
    for turn in range(2):
        for kind in MIX_PATTERN:
            for index, user in enumerate(users):
                query = {"1": (W1, None), "2": (W2, None), "3": (W3, {"id": user.accounts[0]})}
                if kind == "5":
                    requests.append(transfers[2 * index + turn])
                else:
                    text, variables = query[kind]
                    requests.append(graphql_request(text, variables, user.headers))
    return requests


def dashboard_and_transfer(users: list[DemoUser]) -> list[dict[str, Any]]:
    """W2 warm: each user makes one transfer per 10 dashboard reads (both ways in turn)."""
    requests = []
    transfers = transfer_requests(users)
    for turn in range(2):
        for index, user in enumerate(users):
            requests.extend([graphql_request(W2, None, user.headers)] * 10)
            requests.append(transfers[2 * index + turn])
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

    async def seed004(self, connections: int = 1000, rate: int = 250) -> None:
        """seed 004: `connections` open connections, `rate` req/s offered open-loop, the mix."""
        requests = mix_requests(self.users)
        url = self.base + "/graphql"
        runs = await self.repeat(
            lambda: open_loop(url, requests, connections=connections, rate=rate,
                              seconds=self.seconds, id_replacement=True)
        )  # fmt: skip
        p95, p99 = median_of(runs, "p95"), median_of(runs, "p99")
        failed = sum(run["failures"] for run in runs)
        opened = min(run["opened"] for run in runs)
        self.rows.append(Row(
            f"seed 004: {connections} connections, {rate} req/s open-loop "
            "(60% W2, 20% W3, 15% W1, 5% W5)",
            f"p50 {median_of(runs, 'p50'):.1f} / p95 {p95:.1f} / p99 {p99:.1f} ms; "
            f"{median_of(runs, 'rps'):.0f} ok/s; {opened} sockets open; at most "
            f"{max(run['maxOutstanding'] for run in runs)} outstanding; failed {failures(runs)}",
            target="p95 < 200 ms, p99 < 500 ms, 0 failed",
            met=p95 < 200 and p99 < 500 and failed == 0 and opened == connections,
        ))  # fmt: skip

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
