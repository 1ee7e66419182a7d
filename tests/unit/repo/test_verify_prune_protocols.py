"""Verify and prune need only their Protocols (``VerifySource``, ``PruneStore``), not the Repository
facade or a whole store: each is handed an object with exactly the members its Protocol names
(delegating to a real repository on the fake store), so reaching for anything else would fail with
AttributeError."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

from drkit.repo.engine.blobsource import PackedBlobSource
from drkit.repo.engine.prune import PruneStore, forget_snapshots, prune_repository
from drkit.repo.engine.verify import Verifier, VerifySource, VerifyStore
from drkit.repo.format.index import PackRecord
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import ProblemKind
from drkit.repo.format.objects import TamperEvent
from drkit.repo.repository import Repository
from drkit.storage.base import ObjectInfo
from tests.unit.repo.repohelpers import SafeStore, corrupt, make_tree, new_repo, open_repo
from tests.unit.repo.test_engine_protocols import OnlyPacks


class OnlyVerifyStore:
    """A VerifyStore and nothing more (no put, delete or retention)."""

    def __init__(self, store: SafeStore) -> None:
        self._store = store
        self.calls: set[str] = set()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.calls.add("list")
        return self._store.list(prefix)

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        self.calls.add("head")
        return self._store.head(key, version_id=version_id)

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        self.calls.add("versions")
        return self._store.versions(key)

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        self.calls.add("get")
        return self._store.get(key, version_id=version_id)


class OnlyVerifySource:
    """A VerifySource and nothing more."""

    def __init__(self, repo: Repository, store: SafeStore) -> None:
        self._repo = repo
        self._store = OnlyVerifyStore(store)

    @property
    def store(self) -> VerifyStore:
        return self._store

    def pack_source(self, *, cache_packs: int) -> PackedBlobSource:
        return OnlyPacks(self._repo.pack_source(cache_packs=cache_packs))

    def pack_record(self, pack_id: str) -> PackRecord | None:
        return self._repo.pack_record(pack_id)

    def tamper_events(self) -> Sequence[TamperEvent]:
        return self._repo.tamper_events()


class OnlyPruneStore:
    """A PruneStore and nothing more (not a Housekeeping store: leftovers are skipped)."""

    def __init__(self, store: SafeStore) -> None:
        self._store = store

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._store.list(prefix)

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        return self._store.versions(key)

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        return self._store.head(key, version_id=version_id)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        self._store.delete(key, version_id=version_id)


def test_verify_checks_structure_locks_and_data_through_its_source_alone(tmp_path: Path) -> None:
    store = SafeStore()
    repo = new_repo(store)
    make_tree(tmp_path / "src")
    snap = repo.backup_path(tmp_path / "src", host="h")
    data_pack = next(p for p in snap.packs if repo.pack_record(p) is not None)
    corrupt(store, pack_key(data_pack), at=200)
    repo = open_repo(store)

    source: VerifySource = OnlyVerifySource(repo, store)
    report = Verifier(source, all_snapshots=repo.snapshots()).run(repo.snapshots(), read_data_percent=100)

    assert (ProblemKind.CORRUPT, pack_key(data_pack)) in {(p.kind, p.object) for p in report.problems}
    assert report.packs_read == len(snap.packs)
    assert {"list", "head", "versions"} <= source.store.calls  # type: ignore[attr-defined]
    whole = open_repo(store).verify(read_data_percent=100)
    assert {(p.kind, p.object) for p in report.problems} == {(p.kind, p.object) for p in whole.problems}


def test_forget_and_prune_go_through_the_prune_store_alone(tmp_path: Path) -> None:
    store = SafeStore()
    repo = new_repo(store, lock_mode=None, retention=timedelta(0))
    make_tree(tmp_path / "src")
    first = repo.backup_path(tmp_path / "src", host="h")
    (tmp_path / "src" / "new.txt").write_bytes(b"only in the second and third")
    second = repo.backup_path(tmp_path / "src", host="h")
    (tmp_path / "src" / "new.txt").unlink()
    third = repo.backup_path(tmp_path / "src", host="h")
    later = repo.now() + timedelta(days=1)

    narrow: PruneStore = OnlyPruneStore(store)
    deleted, locked, denied = forget_snapshots(narrow, [first.id], now=later, dry_run=False)
    assert (deleted, locked, denied) == ([first.id], [], [])

    repo = open_repo(store)
    index_packs = repo._load_index().index_packs
    result = prune_repository(
        narrow, index_packs, repo.snapshots(), [third.id], now=later, grace=timedelta(0)
    )
    assert result.deleted_snapshots == (second.id,)
    assert result.kept_snapshots == (third.id,)
    assert result.deleted_packs  # the pack of new.txt is no longer needed
    assert result.discarded_leftovers == ()  # not a Housekeeping store: nothing asked
    after = open_repo(store)
    assert [s.id for s in after.snapshots()] == [third.id]
    assert after.verify(read_data_percent=100).problems == ()
