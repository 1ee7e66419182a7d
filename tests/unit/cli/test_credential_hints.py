"""A wrong key says which credential was tried (never its value), on which repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.errors import ExitCode
from tests.unit.cli.localrepo import drkit, make_repo


def test_a_wrong_passphrase_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    monkeypatch.setenv("DRKIT_PASSWORD", "a wrong passphrase of some length")
    run = drkit(capsys, "snapshots")
    assert run.code == ExitCode.WRONG_KEY
    assert f"drkit: hint: tried the passphrase in DRKIT_PASSWORD on {local.path.as_uri()}: is it" in run.err
    assert "a wrong passphrase of some length" not in run.err

    wrong = tmp_path / "wrong-password"
    wrong.write_text("another wrong passphrase\n")
    monkeypatch.setenv("DRKIT_PASSWORD_FILE", str(wrong))
    run = drkit(capsys, "snapshot", "show", "latest")
    assert run.code == ExitCode.WRONG_KEY
    assert f"tried the passphrase in {wrong} on " in run.err
    assert "another wrong passphrase" not in run.err
