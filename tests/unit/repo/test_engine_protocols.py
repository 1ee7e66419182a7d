"""The engines that write and read snapshots need only their Protocols, not the Repository facade.

Each engine here is handed an object with exactly the members its Protocol names (delegating to a
real repository on the fake store): an engine that reached for anything else of the repository
would fail with AttributeError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from drkit.repo.engine.backup import ParentTrees
from drkit.repo.engine.blobsource import PackedBlobSource
from drkit.repo.engine.pathbackup import backup_path
from drkit.repo.engine.restore import TreeRestore
from drkit.repo.engine.snapshotreader import SnapshotReader
from drkit.repo.engine.snapshotwriter import SnapshotWriter
from drkit.repo.engine.target import SnapshotTarget
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import BlobWriter, WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.index import BlobKey, BlobLocation
from drkit.repo.format.model import Snapshot
from drkit.repo.format.packsource import PackSource
from drkit.repo.format.sealing import Openers
from drkit.repo.repository import Repository
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import describe, make_tree, new_repo


class OnlyTarget:
    """A SnapshotTarget and nothing more."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self.calls: list[str] = []

    @property
    def settings(self) -> WriterSettings:
        return self._repo.settings

    @property
    def chunker_params(self) -> ChunkerParams:
        return self._repo.chunker_params

    def now(self) -> datetime:
        return self._repo.now()

    def known_snapshots(self) -> Sequence[Snapshot]:
        self.calls.append("known_snapshots")
        return self._repo.known_snapshots()

    def blob_writer(self) -> BlobWriter:
        self.calls.append("blob_writer")
        return self._repo.blob_writer()

    def parent_trees(self, parent: Snapshot, tree: bytes) -> ParentTrees:
        self.calls.append("parent_trees")
        return self._repo.parent_trees(parent, tree)

    def commit_snapshot(
        self, snap: Snapshot, writer: BlobWriter, referenced: set[BlobKey], started: float
    ) -> Snapshot:
        self.calls.append("commit_snapshot")
        return self._repo.commit_snapshot(snap, writer, referenced, started)


class OnlyPacks:
    """A PackedBlobSource and nothing more."""

    def __init__(self, packs: PackSource) -> None:
        self._packs = packs

    @property
    def keys(self) -> Openers:
        return self._packs.keys

    def blob(self, blob_type: BlobType, blob_id: bytes) -> bytes:
        return self._packs.blob(blob_type, blob_id)

    def locate(self, key: BlobKey) -> BlobLocation | None:
        return self._packs.locate(key)

    def fetch(self, pack_id: str, *, cache: bool = False) -> bytes:
        return self._packs.fetch(pack_id, cache=cache)


def _packs(repo: Repository) -> PackedBlobSource:
    return OnlyPacks(PackSource(repo.read_keys(), repo._load_index().index, repo._reader))


def test_a_cluster_snapshot_is_written_through_the_target_alone() -> None:
    repo = new_repo(FakeStore())
    target: SnapshotTarget = OnlyTarget(repo)
    with SnapshotWriter(target, kind="cluster", host="h") as snap:
        snap.add_bytes("resources/a.json", b'{"a": 1}')
        snap.add_stream("etcd/snapshot.db", [b"x" * 5000, b"y" * 7000])
    assert snap.snapshot is not None
    reader = repo.snapshot_reader(snap.snapshot.id)
    assert reader.read_bytes("resources/a.json") == b'{"a": 1}'
    assert reader.read_bytes("etcd/snapshot.db") == b"x" * 5000 + b"y" * 7000
    assert target.calls == ["known_snapshots", "blob_writer", "commit_snapshot"]


def test_a_directory_backup_and_its_restore_go_through_the_protocols_alone(tmp_path: Path) -> None:
    repo = new_repo(FakeStore())
    make_tree(tmp_path / "src")
    target = OnlyTarget(repo)
    first = backup_path(target, tmp_path / "src", host="h")
    second = backup_path(target, tmp_path / "src", host="h")  # the first is its parent
    assert second.parent == first.id
    assert "parent_trees" in target.calls
    assert second.stats.new_bytes == 0  # everything deduplicated against the first

    TreeRestore(_packs(repo), second).run(tmp_path / "out", "")
    assert describe(tmp_path / "out") == describe(tmp_path / "src")
    reader = SnapshotReader(second, trees=_packs(repo), data=_packs(repo))
    assert reader.read_bytes("sub/deeper/data.bin") == (tmp_path / "src/sub/deeper/data.bin").read_bytes()
