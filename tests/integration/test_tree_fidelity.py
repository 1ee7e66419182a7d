"""File-tree fidelity on real stores (a local directory, the S3 servers) and an interrupted
`drkit backup path` that resumes without uploading the tree again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.layout import SNAPSHOTS_PREFIX
from drkit.repo.repository import Repository
from drkit.sandbox.s3server import S3Credentials, S3Server
from drkit.storage.base import LockMode, Store
from drkit.storage.local import LocalStore
from drkit.storage.options import S3Options
from drkit.storage.url import open_store
from tests.unit.repo.repohelpers import CRED, SCRYPT_N, SMALL_CHUNKS
from tests.unit.repo.treefidelity import fidelity_view, make_every_kind_tree

ROOT = Path(__file__).resolve().parents[2]


def _init(store: Store, *, pack_size: int = 64 * 1024) -> Repository:
    return Repository.init(
        store,
        CRED,
        lock_mode=LockMode.COMPLIANCE,
        retention=timedelta(days=1),
        chunker=SMALL_CHUNKS,
        pack_size=pack_size,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
    )


def _s3_store(s3: S3Server, creds: S3Credentials) -> Store:
    options = S3Options(
        access_key=creds.access_key, secret_key=creds.secret_key, session_token=creds.session_token
    )
    url = f"s3://{s3.bucket}/backups/tree-fidelity?endpoint={s3.endpoint}&region={s3.region}&path_style=true"
    return open_store(url, options)


def _round_trip(store: Store, tmp_path: Path) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    first = _init(store).backup_path(src, host="h")
    assert any("special file skipped (fifo)" in s for s in first.stats.skipped)
    repo = Repository.open(store, CRED)
    second = repo.backup_path(src, host="h")
    assert second.tree == first.tree, "an unchanged tree (same inodes) yields the same tree blobs"
    assert second.stats.new_bytes == 0
    repo.restore_path(second.id, tmp_path / "dst")
    assert fidelity_view(tmp_path / "dst") == fidelity_view(src)
    st = (tmp_path / "dst" / "sparse.img").stat()
    assert st.st_blocks * 512 <= 256 * 1024
    repo.restore_path("latest", tmp_path / "sub", subpath="d1")
    assert fidelity_view(tmp_path / "sub") == fidelity_view(src / "d1")
    report = repo.verify(read_data_percent=100)
    assert report.ok, report.problems


def test_local_store_every_kind_of_entry_round_trips(tmp_path: Path) -> None:
    _round_trip(LocalStore(tmp_path / "repo"), tmp_path)


def test_s3_every_kind_of_entry_round_trips(s3: S3Server, tmp_path: Path) -> None:
    _round_trip(_s3_store(s3, s3.admin), tmp_path)


def _drkit_env(tmp_path: Path, repo: Path) -> dict[str, str]:
    password = tmp_path / "password"
    assert CRED.passphrase is not None
    password.write_bytes(CRED.passphrase.reveal_bytes() + b"\n")
    return {**os.environ, "DRKIT_REPO": str(repo), "DRKIT_PASSWORD_FILE": str(password)}


def test_killed_backup_path_resumes_without_uploading_the_tree_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    total = 0
    for i in range(48):
        d = src / f"d{i % 6}"
        d.mkdir(parents=True, exist_ok=True)
        data = os.urandom(1_000_000)
        (d / f"f{i}.bin").write_bytes(data)
        total += len(data)
    repo_dir = tmp_path / "repo"
    store = LocalStore(repo_dir)
    _init(store, pack_size=1024 * 1024)
    env = _drkit_env(tmp_path, repo_dir)
    argv = [sys.executable, "-m", "drkit", "backup", "path", str(src), "--host", "h", "-o", "json"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # packs are only reusable once an index names them: kill after the first index, mid-way
    while not list(store.list("index/")):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"backup ended or stalled before its first index: {proc.communicate()}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert list(store.list(SNAPSHOTS_PREFIX)) == [], "the backup finished before it was killed"

    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    stats = json.loads(again.stdout)
    assert stats["files"] == 48
    assert 0 < stats["new_bytes"] < total, stats
    verify = subprocess.run(
        [sys.executable, "-m", "drkit", "verify", "--read-data"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    Repository.open(store, CRED).restore_path("latest", tmp_path / "dst")
    assert fidelity_view(tmp_path / "dst") == fidelity_view(src)
