"""The repository's compression setting: ``repo init --compression zstd-N|none``; what writers do with it
and that any reader restores either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.unit.restore.test_cli_plan import drkit

PASSWORD = "a passphrase for the compression test"


def _source(root: Path) -> Path:
    root.mkdir()
    (root / "text.log").write_bytes(b"the same line of a log, again and again\n" * 60_000)  # ~2.3 MiB
    (root / "random.bin").write_bytes(os.urandom(300_000))
    return root


def _stored_bytes(repo_dir: Path) -> int:
    return sum(p.stat().st_size for p in (repo_dir / "data").rglob("*") if p.is_file())


@pytest.mark.parametrize("compression", ["none", "zstd-1", "zstd-3"])
def test_backups_restore_whatever_the_compression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], compression: str
) -> None:
    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo_dir))
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    created = drkit(capsys, "repo", "init", "--lock-mode", "none", "--compression", compression, "-o", "json")
    assert created.json()["compression"] == compression
    src = _source(tmp_path / "src")
    assert drkit(capsys, "backup", "path", str(src), "-o", "json").code == 0
    restored = tmp_path / "restored"
    assert drkit(capsys, "restore", "path", "latest", str(restored)).code == 0
    for name in ("text.log", "random.bin"):
        assert (restored / name).read_bytes() == (src / name).read_bytes()
    repo = Repository.open(LocalStore(repo_dir), Credential(passphrase=Secret(PASSWORD)))
    assert repo.config.compression == compression
    stored = _stored_bytes(repo_dir)
    if compression == "none":
        assert stored > 2_300_000 + 300_000, "nothing was compressed"
    else:
        assert stored < 300_000 + 100_000, "the log compressed to almost nothing"


def test_an_unknown_compression_is_refused_before_anything_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo_dir))
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    refused = drkit(capsys, "repo", "init", "--compression", "zstd-99")
    assert refused.code == ExitCode.USAGE
    assert "unknown compression 'zstd-99': use zstd-1 .. zstd-19 or none" in refused.err
    assert not repo_dir.exists() or not any(repo_dir.iterdir())


def test_repo_init_compresses_with_zstd_1_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """zstd's fastest positive level by default: level 3 cost a first backup ~40% more compression
    CPU for ~5% less stored (docs/performance.md)."""
    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo_dir))
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    created = drkit(capsys, "repo", "init", "--lock-mode", "none", "-o", "json")
    assert created.json()["compression"] == "zstd-1"
    repo = Repository.open(LocalStore(repo_dir), Credential(passphrase=Secret(PASSWORD)))
    assert repo.config.compression == "zstd-1"
