"""`drkit daemon` option handling (no daemon is started)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drkit.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]


def test_check_prints_next_runs_as_json() -> None:
    result = CliRunner().invoke(
        cli, ["daemon", "--schedules", str(ROOT / "schedules"), "--check", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["schedule"] for r in rows} == {"nightly", "etcd-every-6h"}
    assert all(len(r["next"]) == 3 for r in rows)


def test_leader_election_must_be_chosen(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["daemon", "--schedules", str(ROOT / "schedules")])
    assert result.exit_code == 2
    assert "--lease-namespace" in result.output
    assert "--no-leader-election" in result.output


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["daemon", "--schedules", str(tmp_path), "--no-leader-election"])
    assert result.exit_code != 0
    assert "no schedule files" in str(result.exception)
