"""Exit 13 for a key slot that exists but fails its integrity check (naming it), exit 12 when the
credential opens no slot (issue 19.8), through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from tests.unit.restore.test_cli_plan import drkit

PASSWORD = "a passphrase for the key slot test"


@pytest.fixture
def slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    repo = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    created = drkit(capsys, "repo", "init", "--no-lock", "-o", "json")
    assert created.code == 0, created.err
    return repo / "keys" / created.json()["key_slot"]


@pytest.mark.parametrize("command", [["snapshots"], ["repo", "info"], ["verify"]])
def test_a_tampered_slot_is_exit_13_naming_it(
    slot: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    doc = json.loads(slot.read_bytes())
    doc["user"] = "mallory"
    slot.write_text(json.dumps(doc))
    run = drkit(capsys, *command)
    assert run.code == ExitCode.VERIFICATION_FAILED, run.err
    assert f"keys/{slot.name} fails its integrity check" in run.err


def test_a_wrong_passphrase_is_still_exit_12(
    slot: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRKIT_PASSWORD", "not the passphrase")
    run = drkit(capsys, "snapshots")
    assert run.code == ExitCode.WRONG_KEY, run.err
    assert "opens no key slot" in run.err
