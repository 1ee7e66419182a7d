"""Sealing overlaps the walk: small chunks go to the sealing threads in batches, directories whose
chunk ids are not known yet wait in a queue, and every tree is still stored after its chunks and its
subtrees, with the bytes a walk without batches gives (counted, not timed)."""

from __future__ import annotations

import gc
import hashlib
import threading
from pathlib import Path

import pytest

from drkit.repo.engine import backup
from drkit.repo.engine.backup import ParentTrees, TreeBackup
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.tree import NodeType, decode_tree
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_tree_fidelity import _cutoff_after, _wait_past


class OrderedWriter:
    """TreeBackup's writer interface; records every add in order with the thread that made it."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}
        self.log: list[tuple[BlobType, bytes, str]] = []
        self._lock = threading.Lock()

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        bid = hashlib.sha256(raw).digest()
        with self._lock:
            self.blobs[(blob_type, bid)] = raw
            self.log.append((blob_type, bid, threading.current_thread().name))
        return bid


def _tree(src: Path, dirs: int = 30, files: int = 12) -> None:
    for d in range(dirs):
        sub = src / f"d{d % 5}" / f"e{d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            (sub / f"f{f}").write_bytes(b"%d %d\n" % (d, f) * (f + 1))
    (src / "big").write_bytes(bytes(range(256)) * 2048)  # 512 KiB: chunks of SMALL_CHUNKS' max size


def _walk(src: Path, w: OrderedWriter, parent: ParentTrees | None = None) -> TreeBackup:
    tb = TreeBackup(w, SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
    tb.run(src, parent)
    return tb


def test_small_chunks_are_sealed_off_the_walking_thread_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _tree(src)
    monkeypatch.setattr(backup, "BATCH_CHUNKS", 16)
    w = OrderedWriter()
    tb = _walk(src, w)
    data = [t for kind, _, t in w.log if kind is BlobType.DATA]
    assert data, "chunks were stored"
    assert all(t.startswith("drkit-seal") for t in data), set(data)
    assert tb._batch.raws == []  # everything handed over
    assert not tb._late  # every waiting directory stored


def test_every_tree_is_stored_after_its_chunks_and_subtrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    _tree(src)
    monkeypatch.setattr(backup, "BATCH_CHUNKS", 7)
    monkeypatch.setattr(backup, "LATE_DIRS", 3)  # the walk waits for the oldest early and often
    w = OrderedWriter()
    tb = _walk(src, w)
    assert tb._result is not None
    position = {(kind, bid): i for i, (kind, bid, _) in enumerate(w.log)}
    trees = 0
    for (kind, bid), i in position.items():
        if kind is not BlobType.TREE:
            continue
        trees += 1
        for n in decode_tree(w.blobs[(kind, bid)], where="t"):
            needs = [(BlobType.DATA, c) for c in n.content]
            if n.type is NodeType.DIR:
                assert n.subtree is not None
                needs.append((BlobType.TREE, n.subtree))
            assert all(position[k] < i for k in needs), n.name
    assert trees == 1 + 5 + 30
    assert position[(BlobType.TREE, tb._result.tree)] == len(w.log) - 1  # the root last


@pytest.mark.parametrize(("chunks", "late"), [(1, 1), (7, 3), (256, 512)])
def test_batches_and_waiting_give_the_same_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: int, late: int
) -> None:
    src = tmp_path / "src"
    _tree(src)
    cutoff = _cutoff_after(src)
    base = _walk(src, OrderedWriter())
    monkeypatch.setattr(backup, "BATCH_CHUNKS", chunks)
    monkeypatch.setattr(backup, "LATE_DIRS", late)
    w = OrderedWriter()
    first = _walk(src, w)
    assert first._result is not None
    assert base._result is not None
    assert first._result.tree == base._result.tree
    assert first._result.referenced == base._result.referenced
    assert (first._result.files, first._result.bytes) == (base._result.files, base._result.bytes)
    _wait_past(cutoff)
    (src / "d1" / "e6" / "f3").write_bytes(b"changed\n")
    second = _walk(src, w, ParentTrees(first._result.tree, lambda t: w.blobs[(BlobType.TREE, t)], cutoff))
    fresh = _walk(src, OrderedWriter())
    assert second._result is not None
    assert fresh._result is not None
    assert second._result.tree == fresh._result.tree
    assert second._result.referenced == fresh._result.referenced
    assert second._result.reused_files == second._result.files - 1


class FailingWriter(OrderedWriter):
    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        if blob_type is BlobType.DATA and b"3 7" in raw:
            raise OSError("disk full")
        return super().add(blob_type, raw)


def test_a_sealing_error_in_a_batch_fails_the_walk(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    tb = TreeBackup(FailingWriter(), SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full"):
        tb.run(src)


def test_a_stored_directory_keeps_none_of_its_files_until_the_walk_ends(tmp_path: Path) -> None:
    """A directory whose tree waited is kept by its parent (for the id) until the walk ends: its files'
    entries, ``lstat`` results and chunk slots must not stay alive with it (they did: ~30 objects per
    file held to the end of a 200k-file first backup, ~250 MiB)."""
    src = tmp_path / "src"
    _tree(src, dirs=20, files=10)
    alive: list[int] = []

    class Counting(OrderedWriter):
        def add(self, blob_type: BlobType, raw: bytes) -> bytes:
            bid = super().add(blob_type, raw)
            if blob_type is BlobType.TREE:
                alive.append(sum(1 for o in gc.get_objects() if type(o) is backup._PendingFile))
            return bid

    _walk(src, Counting())
    assert len(alive) == 1 + 5 + 20  # the top, d0..d4 and the 20 leaves
    assert alive[0] > 0  # counted: the first leaf's own files are alive while its tree is stored
    # the top's tree, every leaf stored: of the 201 files only the top's own ("big") is left
    assert alive[-1] == 1, alive
