"""A first backup's large files found ahead of the walk and cut from the last one back
(drkit/repo/engine/lookahead.py): the same snapshot, the same blobs, the walk deciding."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from drkit.native import load as load_native
from drkit.repo.engine.backup import ParentTrees, TreeBackup
from drkit.repo.engine.lookahead import LargeFilesAhead
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.filecut import FileCutter

SMALL = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=12345)  # windows of 32 KiB
KIB = 1024

_walk = load_native("_walk")
pytestmark = pytest.mark.skipif(_walk is None, reason="the compiled lister was not built")


class Writer:
    """A thread-safe sink: blobs by (type, sha256)."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}
        self._lock = threading.Lock()

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes | memoryview) -> bytes:
        bid = hashlib.sha256(raw).digest()
        with self._lock:
            self.blobs[(blob_type, bid)] = bytes(raw)
        return bid


def _tree(root: Path) -> dict[str, bytes]:
    """Large and small files over a few directories; the large ones in every directory."""
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    for d in ("a", "b/deep", "c"):
        for i in range(3):
            files[f"{d}/big{i}.bin"] = rng.randbytes(rng.randrange(40 * KIB, 120 * KIB))
            files[f"{d}/small{i}.txt"] = rng.randbytes(rng.randrange(10, 900))
    files["z-last.bin"] = rng.randbytes(200 * KIB)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        os.utime(root / rel, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    for d in ("a", "b/deep", "b", "c", "."):
        os.utime(root / d, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    return files


class Recording(TreeBackup):
    """Records which thread cut which large file (by its size: all differ here)."""

    def __init__(self, *a: object, **k: object) -> None:
        super().__init__(*a, **k)  # type: ignore[arg-type]
        self.cut_by: dict[int, str] = {}

    def _cut_far(self, fd: int, size: int, cutter: FileCutter | None = None) -> object:  # type: ignore[override]
        self.cut_by[size] = threading.current_thread().name
        return super()._cut_far(fd, size, cutter)


def test_a_first_backup_with_the_look_ahead_stores_the_same_snapshot_and_cuts_the_last_files_early(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    files = _tree(src)
    ahead, plain = Writer(), Writer()
    walker = Recording(ahead, SMALL, workers=2)
    with_ahead = walker.run(src)
    without = TreeBackup(plain, SMALL, workers=2, look_ahead=False).run(src)
    assert with_ahead.tree == without.tree
    assert ahead.blobs.keys() == plain.blobs.keys()
    assert (with_ahead.files, with_ahead.bytes, with_ahead.read_files, with_ahead.skipped) == (
        without.files,
        without.bytes,
        without.read_files,
        without.skipped,
    )
    # the walk's last large file was cut by the thread that started from the far end
    assert walker.cut_by[len(files["z-last.bin"])] == "drkit-read-ahead"
    large = [len(d) for d in files.values() if len(d) >= 32 * KIB]
    assert sorted(walker.cut_by) == sorted(large)  # each once, by one thread or the other
    assert not [t for t in threading.enumerate() if t.name.startswith(("drkit-ahead", "drkit-read"))]


def test_no_look_ahead_with_a_parent_or_when_turned_off(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    off = Recording(Writer(), SMALL, workers=2, look_ahead=False)
    off.run(src)
    assert set(off.cut_by.values()) == {"drkit-read_0"}
    w = Writer()
    first = TreeBackup(w, SMALL, workers=2).run(src)
    parent = ParentTrees(tree=first.tree, read=lambda t: w.blobs[(BlobType.TREE, t)], changed_before_ns=0)
    second = Recording(w, SMALL, workers=2)
    second.run(src, parent)  # nothing unchanged (ctime after the "parent"): every file read again
    assert set(second.cut_by.values()) == {"drkit-read_0"}


def _ahead(root: Path, cut: object, most: int = 1000) -> LargeFilesAhead[object]:
    assert _walk is not None
    return LargeFilesAhead(_walk.listdir, 32 * KIB, cut, most_entries=most)  # type: ignore[arg-type]


def test_large_files_are_found_in_walk_order_and_cut_last_first_and_the_walk_keeps_what_it_met(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    _tree(src)
    order: list[int] = []
    release = threading.Event()

    def cut(fd: int, size: int) -> int:
        os.close(fd)
        order.append(size)
        release.wait(5)
        return size

    ahead = _ahead(src, cut)
    # the walk meets a/big0.bin before this thread gets to it: the walk's own, never cut here
    met = os.lstat(src / "a/big0.bin")
    assert ahead.claim(os.fsencode(src / "a/big0.bin"), met) is None
    ahead.start(os.fsencode(src))
    last = os.fsencode(src / "z-last.bin")
    deadline = threading.Event()
    while not order and not deadline.wait(0.01):
        pass
    release.set()
    fut = ahead.claim(last, os.lstat(last))
    assert isinstance(fut, Future)
    assert fut.result(5) == (src / "z-last.bin").stat().st_size
    ahead.close()
    sizes = {os.fsencode(p): p.stat().st_size for p in src.rglob("*.bin")}
    assert order[0] == sizes[last]  # the last one in walk order first
    assert sizes[os.fsencode(src / "a/big0.bin")] not in order


def test_a_file_changed_since_the_look_ahead_listed_it_is_left_to_the_walk(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    started = threading.Event()

    def cut(fd: int, size: int) -> int:
        os.close(fd)
        started.set()
        return size

    ahead = _ahead(src, cut)
    ahead.start(os.fsencode(src))
    assert started.wait(5)
    ahead.close()
    last = src / "z-last.bin"
    last.write_bytes(b"x" * (300 * KIB))  # changed after it was listed and started on
    assert ahead.claim(os.fsencode(last), os.lstat(last)) is None


def test_the_listing_ahead_is_bounded(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    left: list[list[bytes]] = []
    for most in (4, 1000):  # 4: the top's entries only, no directory below them listed
        started, release = threading.Event(), threading.Event()

        def cut(
            fd: int, size: int, started: threading.Event = started, release: threading.Event = release
        ) -> int:
            os.close(fd)
            started.set()
            release.wait(5)
            return size

        ahead = _ahead(src, cut, most=most)
        ahead.start(os.fsencode(src))
        assert started.wait(5)  # z-last.bin, the last found: the list is whole by then
        left.append([p for p, _st in ahead._found])
        release.set()
        ahead.close()
    assert left[0] == []
    assert len(left[1]) == 9  # the three directories' large files, still to cut


def test_a_failure_sealing_stops_the_backup_and_the_threads_ahead(tmp_path: Path) -> None:
    class Failing(Writer):
        def add(self, blob_type: BlobType, raw: bytes | memoryview) -> bytes:
            if blob_type is BlobType.DATA and len(raw) > 1024:
                raise OSError(28, "No space left on device")
            return super().add(blob_type, raw)

    src = tmp_path / "src"
    _tree(src)
    with pytest.raises(OSError, match="No space left"):
        TreeBackup(Failing(), SMALL, workers=2).run(src)
    assert not [
        t for t in threading.enumerate() if t.name.startswith(("drkit-ahead", "drkit-read", "drkit-seal"))
    ]
