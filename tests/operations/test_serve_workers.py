"""`ledgerql serve` runs one worker per CPU core it may use, unless told (one on SQLite)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from graph import cli
from tests.conftest import make_settings

POSTGRESQL = "postgresql+asyncpg://ledgerql:secret@db.invalid:5432/ledgerql"
SQLITE = "sqlite+aiosqlite:///./var/never-opened.db"


def served_with(
    argv: list[str], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The keyword arguments `serve` hands uvicorn (no database, no server started)."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "_prepare_database", lambda *_, **__: None)
    monkeypatch.setattr(uvicorn, "run", lambda *_, **kwargs: calls.append(kwargs))
    args = cli.build_parser().parse_args(["serve", *argv])
    assert cli.cmd_serve(args, make_settings(database_url, tmp_path)) == 0
    [kwargs] = calls
    return kwargs


def test_workers_default_to_one_per_core_the_process_may_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.build_parser().parse_args(["serve"]).workers is None
    monkeypatch.setattr(cli, "CGROUP_CPU_MAX", tmp_path / "no-quota")
    kwargs = served_with([], POSTGRESQL, tmp_path, monkeypatch)
    assert kwargs["workers"] == len(os.sched_getaffinity(0))
    assert kwargs["timeout_worker_healthcheck"] == cli.WORKER_HEALTHCHECK_SECONDS


@pytest.mark.parametrize(
    ("cpu_max", "cpus"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1),
     ("200000 100000\n", 2), ("garbage\n", None), ("x 100000\n", None), ("0 100000\n", None)],
)  # fmt: skip
def test_a_cgroup_cpu_quota_is_read_in_whole_cpus(
    cpu_max: str, cpus: int | None, tmp_path: Path
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert cli.cgroup_cpu_quota(path) == cpus


def test_without_a_cgroup_quota_every_core_counts(tmp_path: Path) -> None:
    assert cli.cgroup_cpu_quota(tmp_path / "missing") is None


def test_a_container_quota_caps_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text("100000 100000\n")
    monkeypatch.setattr(cli, "CGROUP_CPU_MAX", path)
    assert cli.available_cores() == 1
    assert served_with([], POSTGRESQL, tmp_path, monkeypatch)["workers"] == 1


def test_sqlite_defaults_to_one_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "available_cores", lambda: 8)
    assert served_with([], SQLITE, tmp_path, monkeypatch)["workers"] == 1


@pytest.mark.parametrize("database_url", [POSTGRESQL, SQLITE])
def test_workers_option_overrides_the_default(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "available_cores", lambda: 8)
    assert served_with(["--workers", "3"], database_url, tmp_path, monkeypatch)["workers"] == 3


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_workers_must_be_a_positive_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["serve", "--workers", value])
    assert exit_info.value.code == 2
    assert "--workers" in capsys.readouterr().err
