"""Where one workload's time goes: `ledgerql serve` (one worker) under autocannon, via py-spy.

Seeds a temporary SQLite database (or a throwaway PostgreSQL cluster) with `seed-demo`, serves it
with one worker, signs in demo1..demo5, warms up, then samples the worker with py-spy (`--gil`:
only the thread running Python counts) while autocannon drives the workload. Prints the share of
samples by package (own time) and LedgerQL's own functions (inclusive time).

    .venv/bin/python bench/profile.py w3
    .venv/bin/python bench/profile.py w1 --backend postgresql --seconds 10 --raw /tmp/w1.txt
    .venv/bin/python bench/profile.py w3 --backend postgresql --ceiling   # the stack's ceiling

py-spy attaches with ptrace: run as root, or with CAP_SYS_PTRACE in a container.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ceiling import ledgerql_answers  # noqa: E402
from bench.common import (  # noqa: E402
    DemoUser,
    autocannon,
    graphql_request,
    ledgerql,
    ledgerql_serve,
    server_env,
    serving_process,
    sign_in_demo_users,
    throwaway_postgres,
)
from bench.workloads import W1, W2, W3, transfer_requests  # noqa: E402

OWN_CODE = re.compile(r"\(((?:graph|db|auth|core)/[^:]+):\d+\)")


def requests_for(workload: str, users: list[DemoUser]) -> list[dict[str, Any]]:
    """The requests the suite sends for `workload`."""
    if workload == "w5":
        return transfer_requests(users)
    query = {"w1": W1, "w2": W2, "w3": W3}[workload]
    return [
        graphql_request(query, {"id": user.accounts[0]} if workload == "w3" else None, user.headers)
        for user in users
    ]


def package_of(frame: str) -> str:
    """The top-level package (or stdlib module) a py-spy frame belongs to."""
    location = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    location = location.split("site-packages/")[-1]
    head = location.split("/")[0] or "(native)"
    return f"{head} (LedgerQL)" if OWN_CODE.search(frame) else head


def summarize(raw: Path, top: int) -> None:
    """Print own time by package and inclusive time of LedgerQL functions."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[package_of(frames[-1])] += samples
        for frame in {f for f in frames if OWN_CODE.search(f) and "graph/cli.py" not in f}:
            inclusive[frame] += samples
    print(f"\n{total} samples\n\nown time by package:")
    for name, samples in own.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {name}")
    print("\nLedgerQL functions, inclusive:")
    for name, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {name}")


async def profile(database_url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Seed, serve with one worker, drive the workload and sample it."""
    env = server_env(database_url, workdir)
    ledgerql(env, "migrate")
    ledgerql(env, "seed-demo")
    raw = Path(args.raw) if args.raw else workdir / "profile.txt"
    argv, ready = ledgerql_serve(1), None
    if args.ceiling:
        async with serving_process(argv, env, workdir / "answers.log") as (base, _):
            users = await sign_in_demo_users(base)
            data = workdir / "ceiling.json"
            data.write_text(json.dumps(await ledgerql_answers(base, users)))
        env = {**env, "CEILING_DATA": str(data)}
        argv = [sys.executable, "-m", "uvicorn", "bench.ceiling_app:app", "--loop", "uvloop",
                "--http", "httptools", "--no-access-log"]  # fmt: skip
        ready = "{ __typename }"
    async with serving_process(argv, env, workdir / "server.log", ready) as (base, pid):
        if not args.ceiling:
            users = await sign_in_demo_users(base)
        requests = requests_for(args.workload, users)
        url, replace_ids = base + "/graphql", args.workload == "w5"
        await autocannon(url, requests, connections=16, seconds=2, id_replacement=replace_ids)
        load = asyncio.create_task(autocannon(
            url, requests, connections=16, seconds=args.seconds + 2, id_replacement=replace_ids,
        ))  # fmt: skip
        await asyncio.sleep(1)
        spy = await asyncio.create_subprocess_exec(
            args.py_spy, "record", "--pid", str(pid), "--duration", str(int(args.seconds)),
            "--gil", "--rate", "250", "--format", "raw", "--output", str(raw), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await spy.communicate()
        summary = await load
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode()[-1000:]}")
    server = "the stack's ceiling (bench/ceiling_app.py)" if args.ceiling else "LedgerQL"
    print(f"{args.workload}: {summary['rps']:.0f} req/s under the profiler, {server}, one worker")
    summarize(raw, args.top)


def main() -> None:
    """Profile one workload on one backend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=["w1", "w2", "w3", "w5"])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=8, help="how long to sample")
    parser.add_argument("--top", type=int, default=20, help="lines per list")
    parser.add_argument("--raw", help="keep py-spy's raw samples in this file")
    parser.add_argument(
        "--ceiling", action="store_true", help="profile bench/ceiling_app.py instead"
    )
    beside = Path(sys.executable).parent / "py-spy"  # the dev extras install it in the venv
    parser.add_argument(
        "--py-spy", default=str(beside) if beside.exists() else shutil.which("py-spy")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir}/bench.db"
        else:
            url = stack.enter_context(throwaway_postgres())
        asyncio.run(profile(url, workdir, args))


if __name__ == "__main__":
    main()
