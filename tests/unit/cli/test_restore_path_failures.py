"""`restore path` through the command line: a failed restore says which paths were not restored and
leaves none of them behind (issue 19.5); a target reached through a symlink is refused (issue 19.7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from tests.unit.restore.test_cli_plan import drkit


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    repo = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    monkeypatch.setenv("DRKIT_PASSWORD", "a passphrase for restore failures")
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"file-{i}.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    assert drkit(capsys, "repo", "init", "--retention", "1d").code == 0
    assert drkit(capsys, "backup", "path", str(src)).code == 0
    return repo


def _largest_pack(repo: Path) -> Path:
    return max((p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_the_summary_names_what_was_not_restored(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _largest_pack(repo)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0x10
    pack.write_bytes(bytes(data))
    dst = tmp_path / "dst"
    run = drkit(capsys, "restore", "path", "latest", str(dst), "-o", "json")
    assert run.code == ExitCode.VERIFICATION_FAILED, run.err
    summary = json.loads(run.out)
    assert summary["ok"] is False
    assert summary["not_restored"]
    for path in summary["not_restored"]:
        assert not Path(path).exists()
    assert summary["files"] == len([p for p in dst.iterdir() if p.is_file()])
    assert "files not restored" in run.err
    table = drkit(capsys, "restore", "path", "latest", str(tmp_path / "dst2"))
    assert table.code == ExitCode.VERIFICATION_FAILED
    assert "NOT RESTORED" in table.out


def test_a_symlinked_target_is_refused_with_the_resolved_path(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "unrelated").write_text("x")
    (tmp_path / "link").symlink_to(elsewhere)
    run = drkit(capsys, "restore", "path", "latest", str(tmp_path / "link"), "--force")
    assert run.code == ExitCode.USAGE, run.err
    assert "leads through a symlink" in run.err
    assert f"if {elsewhere} is where the files belong, give that path" in run.err
    assert [p.name for p in elsewhere.iterdir()] == ["unrelated"]
    ok = drkit(capsys, "restore", "path", "latest", str(elsewhere), "--force")
    assert ok.code == 0, ok.err


def test_a_target_that_is_a_file_is_refused_by_name(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file above the target failed with a bare NotADirectoryError from os.makedirs."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    run = drkit(capsys, "restore", "path", "latest", str(a_file))
    assert run.code == ExitCode.USAGE, run.err
    assert f"Directory '{a_file}' is a file" in run.err  # click's own check of TARGET
    below = drkit(capsys, "restore", "path", "latest", str(a_file / "sub" / "dir"))
    assert below.code == ExitCode.USAGE, below.err
    assert f"is not a directory: {a_file} is a file" in below.err
    assert "give a directory, or a path that does not exist yet" in below.err
    assert a_file.read_text() == "keep me"
