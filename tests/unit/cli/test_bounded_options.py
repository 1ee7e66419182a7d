"""Numbers in options are bounded: out of range is a usage error (exit 2) naming the option, never an
internal error (exit 70) nor a value silently taken; `repo init --retention 0s` needs `--no-lock`."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.errors import ExitCode
from tests.unit.restore.test_cli_plan import drkit


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    monkeypatch.setenv("DRKIT_PASSWORD", "a passphrase for bounded options")
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    return repo


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retention", "99999y"], "--retention: duration '99999y' is longer than 100y"),
        (["--retention", "9" * 5000], "--retention: duration"),
        (["--retention", "0s"], "--retention: a retention of 0s is shorter than 1d"),
        (["--retention", "1h", "--lock-mode", "governance"], "shorter than 1d"),
        (["--no-lock", "--lock-mode", "compliance"], "--no-lock contradicts --lock-mode compliance"),
    ],
)
def test_repo_init_refuses_retention_out_of_range(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = drkit(capsys, "repo", "init", *args)
    assert run.code == ExitCode.USAGE, run.err
    assert message in run.err
    assert not env.exists()  # refused before anything was created


@pytest.mark.parametrize(
    "args", [["--retention", "0s", "--no-lock"], ["--retention", "0s", "--lock-mode", "none"]]
)
def test_repo_init_without_locks_is_explicit(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = drkit(capsys, "repo", "init", *args, "-o", "json")
    assert run.code == 0, run.err
    assert run.json()["lock_mode"] == "none"


def test_repo_init_takes_100_years(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = drkit(capsys, "repo", "init", "--retention", "100y", "-o", "json")
    assert run.code == 0, run.err
    assert run.json()["retention"] == "36500d"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep-daily", str(10**29)], "keep-daily: a count must be at most 100000"),
        (["--keep-last", "100001"], "keep-last: a count must be at most 100000"),
        (["--keep-within", "99999y"], "longer than 100y"),
    ],
)
def test_prune_refuses_counts_out_of_range(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert drkit(capsys, "repo", "init", "--no-lock").code == 0
    run = drkit(capsys, "prune", *args)
    assert run.code == ExitCode.USAGE, run.err
    assert message in run.err


@pytest.mark.parametrize(
    "args",
    [
        ["backup", "run", "--mover-run-as-user", str(2**40)],
        ["backup", "run", "--mover-fs-group", "-1"],
    ],
)
def test_user_ids_in_options_are_bounded(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = drkit(capsys, *args)
    assert run.code == ExitCode.USAGE, run.err
    assert "is not in the range" in run.err
