"""The `ledgerql` command in tests: as a real process (`serve`) or in-process (the rest)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from graph.cli import main
from tests.conftest import TEST_SECRET, UNLIMITED_RATES

ROOT = Path(__file__).resolve().parent.parent.parent
# Generous: a loaded machine running the suite in parallel can take long to start Python.
READY_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `ledgerql serve` process in tests."""
    env = {
        key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "APP_ENV")
    }
    env.update(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_SECRET,
            "DEV_SECRET_FILE": str(tmp_path / "dev-secret"),
            "LOG_FORMAT": "json",
            **{name.upper(): "1000000/1" for name in UNLIMITED_RATES},
            "GRAPHQL_COST_BUDGET": "1000000000/1",
            "GRAPHQL_MAX_COST": "1000000",
        }
    )
    env.update(extra)
    return env


def ledgerql_command(*args: str) -> list[str]:
    """The `ledgerql` command line, run by this interpreter."""
    return [sys.executable, "-m", "graph.cli", *args]


@contextmanager
def running_server(
    env: dict[str, str], log_file: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run `ledgerql serve` (one worker) until it reports ready; its output goes to `log_file`.

    A file, not a pipe: a pipe could fill up and block the server. One worker, not one per
    core: the server is killed at the end, and the workers of a killed supervisor would live on.
    """
    port = free_port()
    with log_file.open("w") as log:
        process = subprocess.Popen(
            ledgerql_command("serve", "--port", str(port), "--workers", "1"),
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{log_file.read_text()}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            pytest.fail(
                f"server was not ready in {READY_TIMEOUT_SECONDS}s:\n{log_file.read_text()}"
            )
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class CliResult:
    """The exit code and the output of one in-process `ledgerql` command."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> CliResult:
    """Run `ledgerql *args` in this process with exactly `env` as its environment.

    Like a child process with no terminal: standard input is empty, settings are read afresh
    from `env`, and argparse's exits become exit codes. Works from a worker thread too
    (`asyncio.to_thread`), since the commands run their own event loops.
    """
    with monkeypatch.context() as patch:
        for name in set(os.environ) - set(env):
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO())
        get_settings.cache_clear()
        capsys.readouterr()
        try:
            returncode = main(list(args))
        except SystemExit as exit_:
            returncode = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            get_settings.cache_clear()
        captured = capsys.readouterr()
    return CliResult(returncode, captured.out, captured.err)
