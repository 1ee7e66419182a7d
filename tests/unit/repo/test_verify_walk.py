"""Verify's walk of a snapshot's trees, rule by rule: each distinct tree read once however many
directories or snapshots share it (and the walk going on past a shared one), the counts it reports,
a tree in no index, and which snapshots a missing pack names. Found as gaps by mutation testing
(docs/testing.md, fourth round)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from drkit.repo.engine import backup
from drkit.repo.engine.verify import Verifier
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import ProblemKind, Snapshot
from drkit.repo.format.tree import Entry, Node, decode_tree, encode_tree
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, new_repo, open_repo, vanish
from tests.unit.repo.test_verify_rules import _forget_blob


def _shared_subtrees(src: Path) -> None:
    """root/{a,b,c}: ``b/y`` and ``c/y`` are hard links of one file, so ``b`` and ``c`` are one tree;
    ``a`` holds another file. Distinct trees: root, a, b (= c); one chunk per file."""
    for d in "abc":
        (src / d).mkdir(parents=True)
    (src / "a" / "x").write_bytes(b"only in a\n")
    (src / "b" / "y").write_bytes(b"in b and c\n")
    os.link(src / "b" / "y", src / "c" / "y")


def test_each_distinct_tree_is_read_once_and_the_walk_goes_on_past_a_shared_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _shared_subtrees(src)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    report = open_repo(store).verify()
    assert report.ok, report.problems
    assert (report.snapshots_checked, report.trees_checked, report.blobs_checked) == (1, 3, 2)

    second = repo.backup_path(src, host="h")  # the same trees: read once for both snapshots
    assert second.tree == first.tree
    report = open_repo(store).verify()
    assert (report.snapshots_checked, report.trees_checked, report.blobs_checked) == (2, 3, 2)


def _subtree_of(repo: Repository, snap: Snapshot, name: bytes) -> bytes:
    root = decode_tree(repo.parent_trees(snap, snap.tree).read(snap.tree), where="root")
    sub = next(n.subtree for n in root if n.name == name)
    assert sub is not None
    return sub


def test_a_tree_in_no_index_is_missing_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _shared_subtrees(src)
    store = SafeStore()
    snap = new_repo(store).backup_path(src, host="h")
    repo = open_repo(store)
    shared = _subtree_of(repo, snap, b"c")  # the tree of b and c: the first subtree the walk meets
    _forget_blob(repo, shared)
    report = repo.verify()
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (
            ProblemKind.MISSING,
            f"tree {shared.hex()}",
            "tree is in no index (or its pack is missing)",
            (snap.id,),
        )
    ]
    assert report.trees_checked == 2  # root and a


def _hostile(entry: Node | Entry) -> Node | Entry:
    if isinstance(entry, Entry):
        return entry._replace(name=b"../" + entry.name)
    return replace(entry, name=b"../" + entry.name)


def test_a_malformed_tree_is_corrupt_and_named_with_every_snapshot_of_its_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer's bug stores the tree of ``b`` (and ``c``) with a hostile entry name: the tree opens
    (its pack and blob are sound) but is refused; the walk goes on to ``a``."""
    src = tmp_path / "src"
    _shared_subtrees(src)

    def buggy(entries: Iterable[Node | Entry]) -> bytes:
        es = list(entries)
        return encode_tree([_hostile(e) for e in es] if [e.name for e in es] == [b"y"] else es)

    monkeypatch.setattr(backup, "encode_tree", buggy)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    second = repo.backup_path(src, host="h")  # the same trees, the same packs
    monkeypatch.undo()
    repo = open_repo(store)
    bad = _subtree_of(repo, first, b"c")
    report = repo.verify()
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (
            ProblemKind.CORRUPT,
            f"tree {bad.hex()}",
            f"tree {bad.hex()} has a hostile entry name b'../y'",
            tuple(sorted({first.id, second.id})),
        )
    ]
    assert report.trees_checked == 2  # root and a
    alone = Verifier(repo, all_snapshots=[]).run([first])  # the snapshot checked is named all the same
    assert [(p.kind, p.object, p.snapshots) for p in alone.problems] == [
        (ProblemKind.CORRUPT, f"tree {bad.hex()}", (first.id,))
    ]


def _two_snapshots(tmp_path: Path) -> tuple[SafeStore, Repository, Snapshot, Snapshot, str]:
    """Two snapshots of one file, and the pack that holds its chunk (the repository's index is
    loaded: the pack goes missing after that)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(b"one chunk of data\n" * 10)
    store = SafeStore()
    repo = new_repo(store)
    first = repo.backup_path(src, host="h")
    second = repo.backup_path(src, host="h")  # the same data: the same pack
    assert first.packs.keys() == second.packs.keys()
    repo = open_repo(store)
    index = repo._load_index().index
    data_pack = next(p for p in first.packs if any(e.type is BlobType.DATA for e in index.packs[p].entries))
    return store, repo, first, second, data_pack


def test_a_missing_pack_names_the_snapshot_checked_even_when_not_among_all_snapshots(tmp_path: Path) -> None:
    store, repo, first, _second, pack_id = _two_snapshots(tmp_path)
    vanish(store, pack_key(pack_id))
    report = Verifier(repo, all_snapshots=[]).run([first])
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (ProblemKind.MISSING, pack_key(pack_id), "pack is missing", (first.id,))
    ]


def test_a_missing_pack_names_the_snapshot_whose_files_need_it_though_its_manifest_omits_it(
    tmp_path: Path,
) -> None:
    """One manifest lists the pack, another's pack list lacks it (a writer's bug) though its files
    need it: checking that other snapshot names it as well as the one whose manifest lists the pack."""
    store, repo, first, second, pack_id = _two_snapshots(tmp_path)
    vanish(store, pack_key(pack_id))
    bare = replace(second, packs={})
    report = Verifier(repo, all_snapshots=[first, bare]).run([bare])
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (ProblemKind.MISSING, pack_key(pack_id), "pack is missing", tuple(sorted({first.id, bare.id})))
    ]


def _two_snapshots_sharing_b(tmp_path: Path) -> tuple[Repository, Snapshot, Snapshot, bytes]:
    """Two snapshots whose roots differ (``a/x`` changed) but share the tree of ``b`` and ``c``."""
    src = tmp_path / "src"
    _shared_subtrees(src)
    store = SafeStore()
    writer = new_repo(store)
    first = writer.backup_path(src, host="h")
    (src / "a" / "x").write_bytes(b"changed in a\n")
    second = writer.backup_path(src, host="h")
    repo = open_repo(store)
    shared = _subtree_of(repo, first, b"b")
    assert second.tree != first.tree
    assert _subtree_of(repo, second, b"b") == shared
    return repo, first, second, shared


def test_a_tree_in_no_index_names_every_snapshot_that_reaches_it_though_it_is_walked_once(
    tmp_path: Path,
) -> None:
    repo, first, second, shared = _two_snapshots_sharing_b(tmp_path)
    _forget_blob(repo, shared)
    report = repo.verify()
    assert [(p.kind, p.object, p.snapshots) for p in report.problems] == [
        (ProblemKind.MISSING, f"tree {shared.hex()}", tuple(sorted((first.id, second.id))))
    ]


def test_a_chunk_in_no_index_below_a_shared_tree_names_every_snapshot_that_needs_it(tmp_path: Path) -> None:
    repo, first, second, shared = _two_snapshots_sharing_b(tmp_path)
    (y,) = decode_tree(repo.parent_trees(first, first.tree).read(shared), where="b")
    (chunk,) = y.content
    _forget_blob(repo, chunk)
    report = repo.verify()
    assert [(p.kind, p.object, p.snapshots) for p in report.problems] == [
        (ProblemKind.MISSING, f"data blob {chunk.hex()}", tuple(sorted((first.id, second.id))))
    ]
    # verifying the second snapshot alone: it is the one named
    alone = repo.verify(snapshot=second.id)
    assert [(p.object, p.snapshots) for p in alone.problems] == [(f"data blob {chunk.hex()}", (second.id,))]
