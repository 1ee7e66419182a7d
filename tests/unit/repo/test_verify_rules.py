"""Verify rule by rule: the share of packs read with --read-data, the progress it reports, a pack
header that disagrees with its index entry, and what a finding names. (Gaps of the verify tests
found while adding mutation testing, docs/testing.md.)"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from drkit.repo.engine.progress import CountingProgress, PhaseRecord
from drkit.repo.engine.verify import Verifier
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.index import MasterIndex
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import ProblemKind, Snapshot
from drkit.repo.format.packentries import PackEntries
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, make_tree, new_repo, open_repo


@pytest.fixture(scope="module")
def many_packs(tmp_path_factory: pytest.TempPathFactory) -> tuple[SafeStore, Snapshot]:
    src = tmp_path_factory.mktemp("src")
    make_tree(src)
    store = SafeStore()
    snap = new_repo(store, pack_size=16 * 1024).backup_path(src, host="h")
    assert len(snap.packs) >= 8
    return store, snap


@pytest.mark.parametrize("percent", [0.1, 10, 33.3, 50, 99.9, 100, 250])
def test_read_data_reads_the_share_asked_for_rounded_up(
    many_packs: tuple[SafeStore, Snapshot], percent: float
) -> None:
    store, snap = many_packs
    report = open_repo(store).verify(read_data_percent=percent)
    assert report.ok, report.problems
    n = len(snap.packs)
    assert report.packs_checked == n
    assert report.packs_read == min(n, math.ceil(n * percent / 100))


def test_no_read_data_reads_no_pack(many_packs: tuple[SafeStore, Snapshot]) -> None:
    store, _snap = many_packs
    assert open_repo(store).verify(read_data_percent=0).packs_read == 0
    assert open_repo(store).verify(read_data_percent=-5).packs_read == 0


def test_verify_reports_its_progress(many_packs: tuple[SafeStore, Snapshot]) -> None:
    store, snap = many_packs
    progress = CountingProgress()
    open_repo(store).verify(read_data_percent=50, progress=progress)
    n = math.ceil(len(snap.packs) / 2)
    assert progress.phases == [
        PhaseRecord("verify structure", 1, "snapshots", 1, finished=True),
        PhaseRecord("verify data", n, "packs", n, finished=True),
    ]


def _with_index_entry_dropped(repo: Repository, pack_id: str) -> None:
    index = repo._load_index().index
    record = index.packs[pack_id]
    index.packs[pack_id] = replace(record, entries=record.entries[:-1])


def test_a_header_that_disagrees_with_its_index_entry_is_corrupt(
    many_packs: tuple[SafeStore, Snapshot],
) -> None:
    store, snap = many_packs
    repo = open_repo(store)
    pack_id = sorted(snap.packs)[0]
    _with_index_entry_dropped(repo, pack_id)
    report = repo.verify(read_data_percent=100)
    assert [(p.kind, p.object, p.message) for p in report.problems] == [
        (ProblemKind.CORRUPT, pack_key(pack_id), "its header and its index entry disagree")
    ]


def test_a_problem_names_every_snapshot_that_needs_the_pack(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    second = repo.backup_path(src, host="h")  # the same data: the same packs
    pack_id = sorted(first.packs)[0]
    del store.inner._objects[pack_key(pack_id)]
    report = open_repo(store).verify(snapshot=second.id)
    missing = [p for p in report.problems if p.object == pack_key(pack_id)]
    assert [(p.kind, p.snapshots) for p in missing] == [
        (ProblemKind.MISSING, tuple(sorted({first.id, second.id})))
    ]
    assert report.snapshots_checked == 1


def _one_file_snapshot(tmp_path: Path) -> tuple[SafeStore, Repository, Snapshot]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(b"one chunk of data\n" * 10)
    store = SafeStore()
    snap = new_repo(store).backup_path(src, host="h")
    return store, open_repo(store), snap


def _data_entry(repo: Repository, snap: Snapshot) -> tuple[bytes, str]:
    index = repo._load_index().index
    for pack_id in snap.packs:
        for e in index.packs[pack_id].entries:
            if e.type is BlobType.DATA:
                return e.id, pack_id
    raise AssertionError("no data blob")


def _forget_blob(repo: Repository, blob_id: bytes) -> None:
    """The repository's index built again without ``blob_id``'s entries (as if no index listed it)."""
    loaded = repo._load_index()
    old, index = loaded.index, MasterIndex()
    for pack_id, record in old.packs.items():
        entries = PackEntries.of(e for e in record.entries if e.id != blob_id)
        index.add_pack(replace(record, entries=entries), old.pack_index.get(pack_id))
    loaded.index = index


def test_a_chunk_in_no_index_is_missing_and_names_its_snapshot(tmp_path: Path) -> None:
    _store, repo, snap = _one_file_snapshot(tmp_path)
    chunk, _pack = _data_entry(repo, snap)
    _forget_blob(repo, chunk)
    report = repo.verify()
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (
            ProblemKind.MISSING,
            f"data blob {chunk.hex()}",
            "chunk is in no index (or its pack is missing)",
            (snap.id,),
        )
    ]


def test_the_pack_of_a_chunk_missing_is_found_though_the_manifest_does_not_list_it(tmp_path: Path) -> None:
    """A manifest whose pack list lacks a pack its files need (a writer's bug): the chunk check still
    finds the pack missing, and names the snapshot."""
    store, repo, snap = _one_file_snapshot(tmp_path)
    _chunk, pack_id = _data_entry(repo, snap)
    del store.inner._objects[pack_key(pack_id)]
    bare = replace(snap, packs={p: r for p, r in snap.packs.items() if p != pack_id})
    verifier = Verifier(repo, all_snapshots=[bare])
    report = verifier.run([bare])
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (ProblemKind.MISSING, pack_key(pack_id), "pack is missing", (snap.id,))
    ]


def test_one_problem_per_object_however_many_snapshots_meet_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    second = repo.backup_path(src, host="h")
    pack_id = sorted(first.packs)[0]
    del store.inner._objects[pack_key(pack_id)]
    report = open_repo(store).verify()
    assert report.snapshots_checked == 2
    objects = [(p.kind, p.object) for p in report.problems]
    assert len(objects) == len(set(objects)), report.problems
    assert (ProblemKind.MISSING, pack_key(pack_id)) in objects
    assert {s for p in report.problems for s in p.snapshots} == {first.id, second.id}
