"""The incremental fast path: entries unchanged since the parent are reused as stored (no node made, no
tree encoded or sealed), and the result is byte-identical to a walk without a parent (counted, not
timed). Every test runs with the compiled directory scan (``dirscan``) and with the Python walk."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from drkit import native as compiled
from drkit.errors import VerificationFailed
from drkit.repo.engine import backup
from drkit.repo.engine.backup import ParentTrees, TreeBackup
from drkit.repo.engine.fsmeta import Xattrs, read_xattrs
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.tree import decode_tree, encode_tree, tree_map
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_tree_fidelity import FakeWriter, _cutoff_after, _wait_past
from tests.unit.repo.treefidelity import fs_supports_user_xattrs, make_every_kind_tree


class CountingWriter(FakeWriter):
    """The fake writer, counting what is handed to it by blob type."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = {BlobType.DATA: 0, BlobType.TREE: 0}

    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        self.adds[blob_type] += 1
        return super().add(blob_type, raw)


NATIVE = [True, False]


@pytest.fixture(params=NATIVE, ids=["native", "python"], autouse=True)
def native(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every walk of a test with the compiled scan, then in Python only."""
    on: bool = request.param
    if on and compiled.load("_scan") is None:
        pytest.fail("drkit.native._scan was not built or is ruled out (DRKIT_NO_NATIVE)")
    monkeypatch.setattr(_walk, "__defaults__", (None, on))
    return on


def _walk(src: Path, w: FakeWriter, parent: ParentTrees | None = None, native: bool = True) -> TreeBackup:
    tb = TreeBackup(w, SMALL_CHUNKS, workers=2, native=native)  # type: ignore[arg-type]
    tb.run(src, parent)
    if parent is not None and native:
        assert tb._scanned_dirs > 0  # the compiled scan was used
    return tb


def _deep_tree(src: Path) -> None:
    for i in range(120):
        d = src / f"a{i % 4}" / f"b{i % 12}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.py").write_bytes(b"x = %d\n" % i * (i + 1))
    (src / "a0" / "link").symlink_to("b0/f0.py")


def test_unchanged_tree_seals_and_encodes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    src = tmp_path / "src"
    _deep_tree(src)
    w = CountingWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w)
    assert first._result is not None
    w.adds = {BlobType.DATA: 0, BlobType.TREE: 0}
    xattr_reads: list[bytes | int] = []

    def counted(path: bytes | int) -> tuple[Xattrs, str | None]:
        xattr_reads.append(path)
        return read_xattrs(path)

    monkeypatch.setattr(backup, "read_xattrs", counted)
    second = _walk(src, w, ParentTrees(first._result.tree, w.raw, cutoff))
    assert second._result is not None
    assert second._result.tree == first._result.tree
    assert w.adds == {BlobType.DATA: 0, BlobType.TREE: 0}
    # unchanged files (ctime before the parent) keep the parent's xattrs: only directories and the
    # symlink are asked (the compiled scan asks the directories itself: only the symlink is left)
    assert len(xattr_reads) == (1 if native else second._result.dirs + 1)
    assert second._result.reused_files == second._result.files == 120
    assert second._result.referenced == first._result.referenced  # every blob is still referenced


def test_one_changed_file_re_encodes_only_the_trees_above_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _deep_tree(src)
    w = CountingWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w)
    assert first._result is not None
    _wait_past(cutoff)
    (src / "a1" / "b5" / "f17.py").write_bytes(b"changed\n")
    w.adds = {BlobType.DATA: 0, BlobType.TREE: 0}
    second = _walk(src, w, ParentTrees(first._result.tree, w.raw, cutoff))
    assert second._result is not None
    assert w.adds == {BlobType.DATA: 1, BlobType.TREE: 3}  # the file; b5, a1 and the root
    assert second._result.reused_files == 119
    fresh = _walk(src, CountingWriter())  # no parent: every file read, every tree encoded
    assert fresh._result is not None
    assert second._result.tree == fresh._result.tree
    assert second._result.referenced == fresh._result.referenced


def test_every_kind_of_change_gives_the_tree_a_walk_without_parent_gives(tmp_path: Path) -> None:
    """Reused entries and re-made ones side by side: mode, owner-independent metadata, content, link
    targets, xattrs, hard links, renames, removals, new entries; the result equals a full walk's."""
    src = tmp_path / "src"
    make_every_kind_tree(src, outside=tmp_path / "outside")
    w = CountingWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w)
    assert first._result is not None
    _wait_past(cutoff)
    (src / "setuid").chmod(0o755)  # metadata only: content reused, entry re-made
    (src / "small.txt").write_bytes(b"small, changed\n")
    (src / "rel-link").unlink()
    (src / "rel-link").symlink_to("empty.txt")
    (src / "d1" / "d2" / "empty" / "new").write_bytes(b"new")
    (src / "sgid" / "inner").rename(src / "sgid" / "renamed")
    (src / "ro-dir" / "inside").unlink()
    os.utime(src / "d1", ns=(time.time_ns(), 1_000_000_000))  # a directory's own mtime
    if fs_supports_user_xattrs(tmp_path):
        os.setxattr(src / "empty.txt", "user.tag", b"changed")
    parent = ParentTrees(first._result.tree, w.raw, cutoff)
    second = _walk(src, w, parent)
    fresh = _walk(src, CountingWriter())
    assert second._result is not None
    assert fresh._result is not None
    assert second._result.tree == fresh._result.tree
    assert second._result.referenced == fresh._result.referenced
    assert second._result.skipped == fresh._result.skipped
    assert (second._result.files, second._result.dirs, second._result.symlinks) == (
        fresh._result.files,
        fresh._result.dirs,
        fresh._result.symlinks,
    )
    assert second._result.bytes == fresh._result.bytes


def test_a_renumbered_device_reuses_content_but_writes_the_new_device(tmp_path: Path) -> None:
    """A parent written on another device number (a volume mounted afresh): the files are not read
    again, but their entries are re-made (the device is part of the entry) and match a fresh walk."""
    src = tmp_path / "src"
    _deep_tree(src)
    w = CountingWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w)
    assert first._result is not None

    def renumbered(tree_id: bytes) -> bytes:
        nodes = decode_tree(w.raw(tree_id), where="t")
        return encode_tree([replace(n, device=n.device + 1) if n.inode else n for n in nodes])

    w.adds = {BlobType.DATA: 0, BlobType.TREE: 0}
    second = _walk(src, w, ParentTrees(first._result.tree, renumbered, cutoff))
    assert second._result is not None
    assert w.adds[BlobType.DATA] == 0
    assert second._result.reused_files == 120
    assert second._result.tree == first._result.tree  # the same bytes as the real tree


def test_a_parent_tree_with_hostile_or_duplicate_names_is_never_taken_over(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _deep_tree(src)
    w = CountingWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w)
    assert first._result is not None
    nodes = decode_tree(w.raw(first._result.tree), where="t")
    hostile = replace(nodes[0], name=b"../escape")
    bad_root = w.add(BlobType.TREE, encode_tree([*nodes, hostile]))  # the encoder checks no names
    second = _walk(src, w, ParentTrees(bad_root, w.raw, cutoff))
    assert second._result is not None
    assert second._result.tree == first._result.tree  # the extra entry is not carried over
    twins = encode_tree([replace(nodes[0], name=b"x1"), replace(nodes[0], name=b"x2")])
    assert twins.count(b"x1x2") == 1
    with pytest.raises(VerificationFailed, match="duplicate"):
        tree_map(twins.replace(b"x1x2", b"x1x1"), where="t")
