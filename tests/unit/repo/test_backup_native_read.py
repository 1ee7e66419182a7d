"""Small files read by the sealing threads in C (``drkit.native._read``) or by the walk in Python
(``DRKIT_NO_NATIVE=1``, or no compiler): the same snapshot, the same problems, in the same order."""

# Paths are bytes here, as in the walk: os functions on purpose.
# ruff: noqa: PTH102, PTH108, PTH119
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from drkit import native
from drkit.repo.engine import backup
from drkit.repo.engine.backup import TreeBackup, WalkResult, _read_all
from drkit.repo.engine.fsmeta import Xattrs
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.tree import decode_tree
from tests.unit.repo.repohelpers import SMALL_CHUNKS


class Writer:
    """TreeBackup's writer interface: blobs by SHA-256, and which thread stored each data blob."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        bid = hashlib.sha256(raw).digest()
        with self._lock:
            self.blobs[(blob_type, bid)] = raw
            if blob_type is BlobType.DATA:
                self.threads.add(threading.current_thread().name)
        return bid


class Meddling(TreeBackup):
    """Runs ``meddle[name]`` between an entry's ``lstat`` and the read of its content."""

    meddle: dict[bytes, object]

    def _xattrs(self, full: bytes, rel: bytes, bare: bool = False) -> Xattrs:
        xattrs = super()._xattrs(full, rel, bare)
        action = self.meddle.get(os.path.basename(full))
        if callable(action):
            action(full)
        return xattrs


def _walk(
    src: Path, *, compiled: bool, monkeypatch: pytest.MonkeyPatch, **meddle: object
) -> tuple[WalkResult, Writer, list[bytes]]:
    if compiled:
        monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    else:
        monkeypatch.setenv("DRKIT_NO_NATIVE", "1")
    writer = Writer()
    reads: list[bytes] = []
    walker = Meddling(writer, SMALL_CHUNKS, workers=2, on_read=reads.append)  # type: ignore[arg-type]
    assert (walker._read_files is not None) is compiled
    walker.meddle = {os.fsencode(k): v for k, v in meddle.items()}
    return walker.run(src), writer, reads


def _tree(src: Path) -> None:
    for d in range(6):
        sub = src / f"d{d % 3}" / f"e{d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(40):
            (sub / f"f{f:02}").write_bytes(b"%d %d\n" % (d, f) * (f * 7 % 300))  # 0 B to ~1.8 KiB
    (src / "empty").write_bytes(b"")
    (src / "big").write_bytes(os.urandom(300_000))  # cut into chunks on the walk, both ways
    (src / "linked").write_bytes(b"two names, read once\n")
    os.link(src / "linked", src / "d0" / "linked-too")
    (src / "link").symlink_to("big")


def test_the_compiled_reader_is_built_here() -> None:
    """The walk reads small files in C on this machine (else the rest of this file compares the
    pure-Python path with itself)."""
    assert native.load("_read") is not None, "drkit/native/_read.c was not built (make venv)"
    assert TreeBackup(Writer(), SMALL_CHUNKS, workers=1)._read_files is not None  # type: ignore[arg-type]
    assert TreeBackup(Writer(), SMALL_CHUNKS, workers=1, native=False)._read_files is None  # type: ignore[arg-type]


def test_both_paths_give_the_same_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    _tree(src)
    monkeypatch.setattr(backup, "BATCH_CHUNKS", 16)  # many batches
    py, py_writer, py_reads = _walk(src, compiled=False, monkeypatch=monkeypatch)
    c, c_writer, c_reads = _walk(src, compiled=True, monkeypatch=monkeypatch)
    assert c.tree == py.tree
    assert c_writer.blobs == py_writer.blobs  # every tree and chunk: the same bytes
    assert c.referenced == py.referenced
    counts = ("files", "dirs", "symlinks", "bytes", "read_files", "hardlinks", "skipped")
    assert [getattr(c, k) for k in counts] == [getattr(py, k) for k in counts]
    assert (c.files, c.read_files, c.hardlinks, c.skipped) == (6 * 40 + 4, 6 * 40 + 3, 1, [])
    assert sorted(c_reads) == sorted(py_reads)
    assert all(t.startswith("drkit-seal") for t in c_writer.threads), c_writer.threads


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "compiled"])
def test_problems_are_worded_and_ordered_as_the_walk_meets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    src = tmp_path / "src"
    (src / "c" / "sub").mkdir(parents=True)
    for rel in ("a", "b-grows", "c/sub/gone", "c/x", "d-dir", "e-gone", "g", "h-shrinks"):
        (src / rel).write_bytes(rel.encode() * 10)
    os.mkfifo(src / "f-fifo")
    os.mkfifo(src / "c" / "w-fifo")
    grown = os.urandom(1_500_000)  # past the first read, past the reader's 1 MiB steps

    def grow(full: bytes) -> None:
        Path(os.fsdecode(full)).write_bytes(grown)

    def become_dir(full: bytes) -> None:
        os.unlink(full)
        os.mkdir(full)

    res, writer, reads = _walk(
        src,
        compiled=compiled,
        monkeypatch=monkeypatch,
        **{"b-grows": grow, "gone": os.unlink, "d-dir": become_dir, "e-gone": os.unlink},
        **{"h-shrinks": lambda full: Path(os.fsdecode(full)).write_bytes(b"")},
    )
    assert res.skipped == [
        "c/sub/gone: cannot open: No such file or directory",
        "c/w-fifo: special file skipped (fifo)",
        "d-dir: read error: Is a directory",
        "e-gone: cannot open: No such file or directory",
        "f-fifo: special file skipped (fifo)",
    ]
    top = {n.name: n for n in _nodes(writer, res.tree)}
    assert sorted(top) == [b"a", b"b-grows", b"c", b"g", b"h-shrinks"]
    assert (top[b"b-grows"].size, len(top[b"b-grows"].content)) == (len(grown), 1)  # as read, one chunk
    assert writer.blobs[(BlobType.DATA, top[b"b-grows"].content[0])] == grown
    assert (top[b"h-shrinks"].size, top[b"h-shrinks"].content) == (0, ())
    assert res.files == 5
    assert res.bytes == len(grown) + 10 + 10 + 30  # a, g and c/x
    assert res.read_files == 6  # opened: also the one whose read failed
    assert sorted(os.path.basename(r) for r in reads) == [
        b"a",
        b"b-grows",
        b"d-dir",
        b"g",
        b"h-shrinks",
        b"x",
    ]


def _nodes(writer: Writer, tree: bytes) -> list[backup.Node]:
    return decode_tree(writer.blobs[(BlobType.TREE, tree)], where="t")


def _read_files_py(paths: list[bytes], sizes: list[int]) -> list[bytes | tuple[int, int]]:
    """What the compiled reader promises, spelled out with the walk's own read (``_read_all``)."""
    out: list[bytes | tuple[int, int]] = []
    for path, size in zip(paths, sizes, strict=True):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))
        except OSError as e:
            out.append((0, e.errno))
            continue
        try:
            out.append(_read_all(fd, size))
        except OSError as e:
            out.append((1, e.errno))
        finally:
            os.close(fd)
    return out


def test_the_compiled_reader_reads_what_python_reads(tmp_path: Path) -> None:
    module = native.load("_read")
    assert module is not None
    cases: list[tuple[bytes, int]] = []
    for size, hint in [(0, 0), (0, 10), (5, 0), (5, 5), (5, 100), (200_000, 3), (3_000_000, 1_000)]:
        p = tmp_path / f"f{size}-{hint}"
        p.write_bytes(os.urandom(size))
        cases.append((os.fsencode(p), hint))
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "f5-5")
    cases += [(os.fsencode(tmp_path / n), 1) for n in ("dir", "link", "missing")]
    cases.append((os.fsencode(tmp_path / "f5-5" / "below-a-file"), 1))
    paths, sizes = [p for p, _ in cases], [s for _, s in cases]
    got = module.read_files(paths, sizes)
    assert got == _read_files_py(paths, sizes)
    assert [g for g in got if type(g) is tuple] == [
        (1, 21),
        (0, 40),
        (0, 2),
        (0, 20),
    ]  # EISDIR ELOOP ENOENT ENOTDIR
    assert module.read_files([], []) == []
    with pytest.raises(ValueError, match="NUL"):
        module.read_files([b"a\0b"], [1])
    with pytest.raises(ValueError, match="differ in length"):
        module.read_files([b"a"], [])
    with pytest.raises(TypeError, match="not bytes"):
        module.read_files(["a"], [1])  # type: ignore[list-item]


class Counting(TreeBackup):
    """Counts the files ``_dir`` hands to ``_small`` (the first backup's shortcut past ``_entry``)."""

    smalls = 0

    def _small(self, prefix: bytes, rel: bytes, name: bytes, st: os.stat_result) -> backup._PendingFile:  # type: ignore[override]
        self.smalls += 1
        return super()._small(prefix, rel, name, st)


def test_small_files_past_entry_give_what_entry_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_dir`` hands a new small file with one link straight to ``_small``: the same snapshot, counts
    and blobs as through ``_entry`` (sparse, with xattrs, empty, hard-linked and large files around)."""
    monkeypatch.delenv("DRKIT_NO_NATIVE", raising=False)
    src = tmp_path / "src"
    _tree(src)
    with (src / "sparse").open("wb") as f:
        f.truncate(SMALL_CHUNKS.min_size)  # a hole only: small, and sparse
    xattr = True
    try:
        os.setxattr(src / "d1" / "e1" / "f03", b"user.drkit", b"v")
    except OSError:
        xattr = False  # a filesystem without user xattrs: the rest still compares
    results = []
    for shortcut in (False, True):
        writer = Writer()
        walker = Counting(writer, SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
        if not shortcut:
            walker._small_max = -1  # every entry through _entry
        res = walker.run(src)
        results.append((res, writer, walker.smalls))
    (slow, slow_writer, none), (fast, fast_writer, smalls) = results
    assert none == 0
    small = [
        p for p in src.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_nlink == 1
        and p.stat().st_size <= min(backup.INLINE_BELOW - 1, SMALL_CHUNKS.min_size)
    ]  # fmt: skip
    assert smalls == len(small) > 100  # not "linked" (two links) nor "big", nor the larger of the rest
    assert fast.tree == slow.tree
    assert fast_writer.blobs == slow_writer.blobs
    assert fast.referenced == slow.referenced
    counts = ("files", "dirs", "symlinks", "bytes", "read_files", "hardlinks", "sparse_files", "skipped")
    assert [getattr(fast, k) for k in counts] == [getattr(slow, k) for k in counts]
    assert (fast.files, fast.sparse_files, fast.skipped) == (6 * 40 + 5, 1, [])
    nodes = {n.name: n for n in _nodes(fast_writer, fast.tree)}
    assert nodes[b"sparse"].sparse
    assert nodes[b"sparse"].size == SMALL_CHUNKS.min_size
    if xattr:
        sub = {n.name: n for n in _nodes(fast_writer, nodes[b"d1"].subtree)}
        e1 = {n.name: n for n in _nodes(fast_writer, sub[b"e1"].subtree)}
        assert dict(e1[b"f03"].xattrs) == {"user.drkit": b"v"}
