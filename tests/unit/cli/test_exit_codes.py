"""The exit-code contract of docs/cli.md: each typed error exits with its documented code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from drkit import errors
from drkit.cli import main as cli_main
from drkit.errors import DrkitError, ExitCode

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def documented_codes() -> dict[str, int]:
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([A-Z_]+)\s*\|", DOC.read_text(), flags=re.MULTILINE)
    return {name: int(code) for code, name in rows}


def test_every_exit_code_is_documented_with_its_number() -> None:
    assert documented_codes() == {code.name: int(code) for code in ExitCode}


def error_classes() -> list[type[DrkitError]]:
    return [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, DrkitError) and obj is not DrkitError
    ]


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_each_error_exits_with_its_code_and_prints_message_and_hint(
    cls: type[DrkitError], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("boom")
    def boom() -> None:
        raise cls("the thing went wrong", hint="do the other thing")

    monkeypatch.setitem(cli_main.cli.commands, "boom", boom)
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["boom"])
    assert exc.value.code == cls.exit_code
    err = capsys.readouterr().err
    assert "drkit: error: the thing went wrong" in err
    assert "drkit: hint: do the other thing" in err


def test_specific_codes_match_the_contract() -> None:
    assert errors.PartialFailure.exit_code == 1
    assert errors.ConfigError.exit_code == 2
    assert errors.RepositoryNotFound.exit_code == 10
    assert 11 not in {int(code) for code in ExitCode}  # no repository lock: never exits 11
    assert 3 not in {int(code) for code in ExitCode}  # was "not implemented yet": every command landed
    assert errors.WrongKey.exit_code == 12
    assert errors.VerificationFailed.exit_code == 13
    assert errors.DrillFailed.exit_code == 14


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["--no-such-option"])
    assert exc.value.code == ExitCode.USAGE
    assert "No such option" in capsys.readouterr().err


def test_unexpected_exception_is_internal_and_names_the_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("crash")
    def crash() -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli_main.cli.commands, "crash", crash)
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["crash"])
    assert exc.value.code == ExitCode.INTERNAL
    assert "internal error: RuntimeError: kaboom" in capsys.readouterr().err


def test_keyboard_interrupt_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("ctrlc")
    def ctrlc() -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli_main.cli.commands, "ctrlc", ctrlc)
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["ctrlc"])
    assert exc.value.code == ExitCode.INTERRUPTED


def test_config_error_names_file_line_and_field() -> None:
    err = errors.ConfigError("must be a cron expression", file="schedules/a.yaml", line=7, field="cron")
    assert str(err) == "schedules/a.yaml:7: cron: must be a cron expression"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drkit", *args], capture_output=True, text=True, check=False)


def test_python_m_drkit_version_and_help() -> None:
    version = run("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"drkit, version \d+\.\d+\.\d+\S*\n", version.stdout)
    helped = run("--help")
    assert helped.returncode == 0
    for group in ("repo", "backup", "snapshots", "verify", "prune", "restore", "drill", "daemon", "sandbox"):
        assert re.search(rf"^\s+{group}\s", helped.stdout, flags=re.MULTILINE), group
