"""The repository on real stores: a local directory, and MinIO / SeaweedFS with Object Lock.

Backup and restore are byte-identical (contents, modes, mtimes, symlinks, empty dirs); a second
backup uploads nothing; the writer credential cannot delete or shorten anything (prune reports the
locks); a pack overwritten by an attacker holding the writer credential is detected by verify while
restore keeps reading the locked original.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.layout import DATA_PREFIX, SNAPSHOTS_PREFIX, pack_key, snapshot_key
from drkit.repo.format.model import ProblemKind
from drkit.repo.repository import Repository
from drkit.sandbox.s3server import S3Credentials, S3Server
from drkit.storage.base import LockMode, Store
from drkit.storage.local import LocalStore
from drkit.storage.options import S3Options
from drkit.storage.url import open_store
from tests.infra.s3 import boto3_client
from tests.unit.repo.repohelpers import CRED, SCRYPT_N, SMALL_CHUNKS, describe, make_tree

PREFIX = "backups/cluster-a"


def _init(store: Store, mode: LockMode | None = LockMode.COMPLIANCE) -> Repository:
    return Repository.init(
        store,
        CRED,
        lock_mode=mode,
        retention=timedelta(days=1),
        chunker=SMALL_CHUNKS,
        pack_size=64 * 1024,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
    )


def _s3_store(s3: S3Server, creds: S3Credentials) -> Store:
    options = S3Options(
        access_key=creds.access_key, secret_key=creds.secret_key, session_token=creds.session_token
    )
    url = f"s3://{s3.bucket}/{PREFIX}?endpoint={s3.endpoint}&region={s3.region}&path_style=true"
    return open_store(url, options)


def _round_trip(store: Store, tmp_path: Path) -> Repository:
    src = tmp_path / "src"
    make_tree(src)
    first = _init(store).backup_path(src, host="h", tags=["it"])
    assert first.stats.files == 10
    repo = Repository.open(store, CRED)
    second = repo.backup_path(src, host="h")
    assert second.stats.new_packs == 0
    assert second.tree == first.tree
    stats = repo.restore_path(second.short_id, tmp_path / "dst")
    assert stats.files == 10
    assert describe(tmp_path / "dst") == describe(src)
    repo.restore_path("latest", tmp_path / "sub", subpath="sub/deeper")
    assert describe(tmp_path / "sub") == describe(src / "sub" / "deeper")
    report = repo.verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.warnings == ()  # drkit's own locks and extensions are not "far beyond" (19.9)
    assert report.packs_read == len(list(store.list(DATA_PREFIX)))
    return repo


def test_s3_verify_warns_about_a_lock_extended_to_2099(s3: S3Server, tmp_path: Path) -> None:
    """A writer credential extends a pack's COMPLIANCE lock to 2099 (S3 allows it): verify says so."""
    store = _s3_store(s3, s3.writer)
    repo = _round_trip(store, tmp_path)
    pack = next(iter(store.list(DATA_PREFIX))).key
    store.extend_retention(pack, datetime(2099, 1, 1, tzinfo=UTC))
    report = repo.verify()
    assert report.ok
    assert pack in report.warnings[0]
    assert "until 2099-01-01" in report.warnings[0]


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    repo = _round_trip(store, tmp_path)
    result = repo.prune(keep=[repo.snapshots()[-1].id])
    assert result.deleted_snapshots == ()
    assert result.deleted_packs == ()
    assert {o.key for o in result.locked} == {snapshot_key(repo.snapshots()[0].id)}


def test_s3_writer_round_trip_and_nothing_deletable(s3: S3Server, tmp_path: Path) -> None:
    store = _s3_store(s3, s3.writer)
    repo = _round_trip(store, tmp_path)
    snaps = repo.snapshots()
    assert len(snaps) == 2
    for pack_id, ref in snaps[-1].packs.items():
        assert ref.version_id is not None
        info = store.head(pack_key(pack_id), version_id=ref.version_id)
        assert info.retention is not None
        assert info.retention.mode is LockMode.COMPLIANCE
    before = sorted(o.key for o in store.list(""))
    result = repo.prune(keep=[snaps[-1].id])
    assert result.deleted_snapshots == ()
    assert result.deleted_packs == ()
    assert snapshot_key(snaps[0].id) in {o.key for o in result.locked}
    assert sorted(o.key for o in store.list("")) == before


def test_s3_overwritten_pack_is_reported_and_original_restored(s3: S3Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = _s3_store(s3, s3.writer)
    snap = _init(store).backup_path(src, host="h")
    victim = sorted(snap.packs)[0]
    attacker = boto3_client(s3, s3.writer)
    attacker.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{pack_key(victim)}", Body=b"ransom note")
    attacker.put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{snapshot_key(snap.id)}", Body=b"forged")

    repo = Repository.open(store, CRED)
    assert [s.id for s in repo.snapshots()] == [snap.id]
    repo.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)
    report = repo.verify(read_data_percent=100)
    tampered = {p.object: p for p in report.problems if p.kind is ProblemKind.TAMPERED}
    assert set(tampered) == {pack_key(victim), snapshot_key(snap.id)}
    assert tampered[pack_key(victim)].snapshots == (snap.id,)
    assert [p for p in report.problems if p.kind is not ProblemKind.TAMPERED] == []
    assert len(list(store.list(SNAPSHOTS_PREFIX))) == 1


@pytest.mark.parametrize("mode", [LockMode.GOVERNANCE, None])
def test_s3_admin_modes(s3: S3Server, tmp_path: Path, mode: LockMode | None) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = _s3_store(s3, s3.admin)
    snap = _init(store, mode).backup_path(src, host="h")
    repo = Repository.open(store, CRED)
    repo.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)
    assert repo.verify(read_data_percent=100).ok


_BACKUP_SCRIPT = """
import sys
from pathlib import Path
from drkit.repo.repository import Repository
from drkit.repo.format.blobwriter import WriterSettings
from drkit.storage.local import LocalStore
from tests.unit.repo.repohelpers import CRED
repo = Repository.open(LocalStore(Path(sys.argv[1])), CRED, settings=WriterSettings(workers=2, index_every=1))
snap = repo.backup_path(Path(sys.argv[2]), host=sys.argv[3])
print(snap.id)
"""


def _backup_process(repo: Path, src: Path, host: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _BACKUP_SCRIPT, str(repo), str(src), host],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _big_tree(root: Path, files: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(files):
        d = root / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.bin").write_bytes(rng.randbytes(size))


def test_kill_9_during_backup_leaves_a_valid_repository_and_the_retry_reuses_packs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _big_tree(src, files=60, size=1_000_000, seed=1)
    root = tmp_path / "repo"
    store = LocalStore(root)
    _init(store)
    proc = _backup_process(root, src, "h")
    deadline = time.monotonic() + 120
    while not list(store.list("index/")):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"backup ended or stalled before its first index: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert list(store.list(SNAPSHOTS_PREFIX)) == [], "the backup finished before it was killed"
    packs_before = {o.key for o in store.list(DATA_PREFIX)}
    assert packs_before

    repo = Repository.open(store, CRED)
    assert repo.snapshots() == []
    assert repo.verify(read_data_percent=100).ok
    snap = repo.backup_path(src, host="h")
    assert snap.stats.new_packs < len(snap.packs)
    assert {pack_key(p) for p in snap.packs} & packs_before
    report = Repository.open(store, CRED).verify(read_data_percent=100)
    assert report.ok, report.problems
    repo.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)


def test_two_processes_back_up_into_one_repository_at_once(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _big_tree(a, files=20, size=300_000, seed=2)
    _big_tree(b, files=20, size=300_000, seed=3)
    (b / "shared.bin").write_bytes((a / "d0" / "f0.bin").read_bytes())
    root = tmp_path / "repo"
    store = LocalStore(root)
    _init(store)
    procs = [_backup_process(root, a, "host-a"), _backup_process(root, b, "host-b")]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.append(out.strip())
    repo = Repository.open(store, CRED)
    assert sorted(s.id for s in repo.snapshots()) == sorted(ids)
    report = repo.verify(read_data_percent=100)
    assert report.ok, report.problems
    for sid, src in zip(ids, (a, b), strict=True):
        repo.restore_path(sid, tmp_path / f"dst-{sid[:8]}")
        assert describe(tmp_path / f"dst-{sid[:8]}") == describe(src)
