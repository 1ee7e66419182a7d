"""A local repository with one snapshot of each kind, and a way to run `drkit` in-process against it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drkit.cli.main import main
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.model import KIND_DRILL, KIND_VOLUME, Snapshot
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.local import LocalStore

PASSWORD = "unit test passphrase for the snapshot commands"
CLUSTER_META: dict[str, Any] = {
    "drkit": {"capture": 1, "version": "1.2.3", "schedule": "nightly"},
    "etcd": {
        "endpoint": "https://10.0.0.11:2379",
        "revision": 4711,
        "size": 2048,
        "sha256": "ab" * 32,
        "hash_kv": {"revision": 4711, "hash": 3735928559, "compact_revision": 4000},
    },
    "resources": {
        "objects": 5,
        "counts": {"configmaps": 3, "deployments.apps": 1, "persistentvolumeclaims": 1},
        "errors": [{"resource": "secrets", "namespace": "shop", "status": 403, "message": "forbidden"}],
        "skipped": {"events": "default skip list"},
    },
    "kubernetes": {"server": "https://10.0.0.1:6443", "context": "prod"},
    "volumes": {
        "mover": "job",
        "volumes": [
            {"namespace": "shop", "pvc": "data", "mode": "job", "status": "ok", "files": 12, "bytes": 4096},
            {"namespace": "shop", "pvc": "logs", "mode": "job", "status": "failed", "error": "no node"},
        ],
        "skipped": {"shop/tmp": "not Bound (phase Pending)"},
    },
}


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class LocalRepo:
    path: Path
    repo: Repository
    path_snap: Snapshot
    cluster: Snapshot
    volume: Snapshot
    drill: Snapshot


def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalRepo:
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    for name in ("DRKIT_PASSWORD_FILE", "DRKIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(path))
    repo = Repository.init(
        LocalStore(path), Credential(passphrase=Secret(PASSWORD)), lock_mode=None, retention=timedelta(0),
        scrypt_n=1024,
    )  # fmt: skip
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("hello")
    path_snap = repo.backup_path(source, tags=("files",))
    with repo.new_snapshot(tags=("nightly",), host="node-1", meta=CLUSTER_META) as snap:
        snap.add_bytes("resources/core/v1/configmaps/shop/a.json", b'{"kind":"ConfigMap"}')
    assert snap.snapshot is not None
    cluster = snap.snapshot
    with repo.new_snapshot(kind=KIND_VOLUME, tags=("volume",)) as vol:
        vol.add_bytes("volumes/shop/data/f", b"data")
    assert vol.snapshot is not None
    summary = {"ok": True, "plan": "shop", "snapshot": cluster.id, "finished": "2026-12-01T10:00:00+00:00"}
    with repo.new_snapshot(kind=KIND_DRILL, tags=("drill",), meta={"drill": summary}) as drill:
        drill.add_bytes("drill/result.json", b"{}")
    assert drill.snapshot is not None
    return LocalRepo(path, repo, path_snap, cluster, vol.snapshot, drill.snapshot)


def drkit(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    return Run(int(info.value.code or 0), captured.out, captured.err)
