"""`backup path` over a tree with entries it cannot read: the snapshot keeps what was read, but the
command never reports a plain success (exit 1, partial) and names what is missing, in text and JSON.
Before: exit 0, and the entries were listed as "skipped (special files)"."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from drkit.errors import ExitCode
from tests.unit.restore.test_cli_plan import drkit


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("DRKIT_REPO", str(tmp_path / "repo"))
    monkeypatch.setenv("DRKIT_PASSWORD", "a passphrase for unreadable trees")
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    assert drkit(capsys, "repo", "init", "--retention", "1d").code == 0
    src = tmp_path / "src"
    (src / "private").mkdir(parents=True)
    (src / "private" / "rows").write_text("rows\n")
    (src / "public.txt").write_text("public\n")
    return src


def _deny(monkeypatch: pytest.MonkeyPatch, name: bytes) -> None:
    """As root every directory is readable: make one fail to list, as it would for another user (in
    the Python walk: the compiled scan of an incremental lists directories itself)."""
    import drkit.repo.engine.backup as walker

    monkeypatch.setenv("DRKIT_NO_NATIVE", "1")
    real = walker.os.scandir

    def scandir(path: Any) -> Any:
        if os.fsencode(path).rstrip(b"/").endswith(name):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(walker.os, "scandir", scandir)


def test_an_unreadable_directory_makes_the_backup_partial_and_is_named(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _deny(monkeypatch, b"private")
    run = drkit(capsys, "backup", "path", str(tree), "-o", "json")
    assert run.code == ExitCode.PARTIAL, run.err
    row = json.loads(run.out)
    assert row["unreadable"] == ["private: cannot list directory: Permission denied"]
    assert "lacks 1 entry that could not be read (first: private: cannot list directory" in run.err
    text = drkit(capsys, "backup", "path", str(tree))
    assert text.code == ExitCode.PARTIAL
    assert "skipped: private: cannot list directory: Permission denied" in text.out
    assert "special files" not in text.out


def test_a_readable_tree_is_still_a_plain_success(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = drkit(capsys, "backup", "path", str(tree), "-o", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["unreadable"] == []
