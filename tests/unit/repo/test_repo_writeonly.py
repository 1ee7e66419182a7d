"""Write-only mode: a writer key backs up (dedup, locks, signed manifests) but cannot read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import ConfigError, WrongKey
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.layout import DATA_PREFIX, pack_key
from drkit.repo.format.model import ProblemKind
from drkit.repo.format.sealing import MASTER_SEALER, SESSIONS_PREFIX
from drkit.repo.repository import Repository
from drkit.secret import Secret
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import (
    SCRYPT_N,
    Clock,
    SafeStore,
    describe,
    make_tree,
    new_repo,
    open_repo,
    vanish,
)

WRITER = Credential(passphrase=Secret("the cluster's writer passphrase"))


def _with_writer_slot(store: SafeStore, **kw: object) -> Repository:
    repo = new_repo(store, **kw)  # type: ignore[arg-type]
    KeyRing(store, scrypt_n=SCRYPT_N).add_writer(repo.key.writer_key(), WRITER, "cluster writer")
    return repo


def _writer(store: SafeStore, **kw: object) -> Repository:
    return Repository.open_writer(store, WRITER, settings=WriterSettings(workers=2, index_every=1), **kw)  # type: ignore[arg-type]


def test_writer_backs_up_and_master_restores(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    _with_writer_slot(store)
    writer = _writer(store)
    assert writer.write_only
    snap = writer.backup_path(src, host="h")
    sessions = store.keys(SESSIONS_PREFIX)
    assert len(sessions) == 1
    for key in store.keys(DATA_PREFIX):
        assert store.get(key)[8:24] != MASTER_SEALER  # sealed with the session key, not data_key
        assert store.get(key)[8:24].hex() == sessions[0].removeprefix(SESSIONS_PREFIX)

    master = open_repo(store)
    assert [s.id for s in master.snapshots()] == [snap.id]
    master.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)
    report = master.verify(read_data_percent=100)
    assert report.ok, report.problems


def test_writer_cannot_read_anything_back(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    _with_writer_slot(store)
    writer = _writer(store)
    snap = writer.backup_path(src, host="h")
    with pytest.raises(ConfigError, match="write-only"):
        writer.snapshots()
    with pytest.raises(ConfigError, match="write-only"):
        writer.restore_path(snap.id, tmp_path / "dst")
    with pytest.raises(ConfigError, match="write-only"):
        writer.verify()
    with pytest.raises(ConfigError, match="write-only"):
        _ = writer.key
    assert not (tmp_path / "dst").exists()
    with pytest.raises(WrongKey):
        Repository.open(store, WRITER)


def test_writer_deduplicates_against_master_and_own_backups(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    master = _with_writer_slot(store)
    first = master.backup_path(src, host="h")
    packs = store.keys(DATA_PREFIX)
    second = _writer(store).backup_path(src, host="h")
    assert second.stats.new_packs == 0
    assert store.keys(DATA_PREFIX) == packs
    assert second.tree == first.tree
    (src / "new.txt").write_bytes(b"written by the writer")
    third = _writer(store).backup_path(src, host="h")
    assert third.stats.new_packs >= 1
    reader = open_repo(store)
    assert len(reader.snapshots()) == 3
    for snap in reader.snapshots():
        reader.restore_path(snap.id, tmp_path / snap.short_id)
    assert describe(tmp_path / third.short_id) == describe(src)
    assert reader.verify(read_data_percent=100).ok


def test_writer_extends_locks_of_reused_packs_and_its_session(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    clock = Clock(datetime.now(UTC))
    store = SafeStore(FakeStore(clock=clock))
    _with_writer_slot(store, clock=clock, retention=timedelta(days=7))
    first = _writer(store, clock=clock).backup_path(src, host="h")
    clock.now += timedelta(days=3)
    second = _writer(store, clock=clock).backup_path(src, host="h")
    assert second.retain_until is not None
    for pack_id, ref in second.packs.items():
        info = store.head(pack_key(pack_id), version_id=ref.version_id)
        assert info.retention is not None
        assert info.retention.until >= second.retain_until
    first_session = store.head(f"{SESSIONS_PREFIX}{store.get(pack_key(sorted(first.packs)[0]))[8:24].hex()}")
    assert first_session.retention is not None
    assert first_session.retention.until >= second.retain_until


def test_overwritten_session_key_is_survived_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    _with_writer_slot(store)
    snap = _writer(store).backup_path(src, host="h")
    (session,) = store.keys(SESSIONS_PREFIX)
    store.inner.overwrite(session, b"\x00" * 93)
    master = open_repo(store)
    master.restore_path(snap.id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(src)
    report = master.verify()
    assert [p.object for p in report.problems if p.kind is ProblemKind.TAMPERED] == [session]


def test_missing_session_key_is_named_by_verify(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    _with_writer_slot(store)
    snap = _writer(store).backup_path(src, host="h")
    (session,) = store.keys(SESSIONS_PREFIX)
    vanish(store, session)
    report = open_repo(store).verify()
    named = [p for p in report.problems if session in str(p)]
    assert named
    assert all(p.snapshots == (snap.id,) for p in named)
