"""Verify's walk of a snapshot's trees, rule by rule: each distinct tree read once however many
directories or snapshots share it (and the walk going on past a shared one), the counts it reports,
a tree in no index, and which snapshots a missing pack names. Found as gaps by mutation testing
(docs/testing.md, fourth round)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from drkit.repo.engine.verify import Verifier
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.layout import pack_key
from drkit.repo.format.model import ProblemKind, Snapshot
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, new_repo, open_repo, vanish


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


def test_a_tree_in_no_index_is_missing_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _shared_subtrees(src)
    store = SafeStore()
    snap = new_repo(store).backup_path(src, host="h")
    repo = open_repo(store)
    index = repo._load_index().index
    root = repo.parent_trees(snap, snap.tree).read(snap.tree)
    subtree = next(t for (kind, t) in index._blobs if kind is BlobType.TREE and t != snap.tree and t in root)
    del index._blobs[(BlobType.TREE, subtree)]
    report = repo.verify()
    assert [(p.kind, p.object, p.message, p.snapshots) for p in report.problems] == [
        (
            ProblemKind.MISSING,
            f"tree {subtree.hex()}",
            "tree is in no index (or its pack is missing)",
            (snap.id,),
        )
    ]
    assert report.trees_checked == 2  # root and the other subtree


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
