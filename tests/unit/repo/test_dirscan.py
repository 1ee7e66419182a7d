"""The compiled directory scan (``drkit/native/_scan.c``) against the Python walk: randomized trees on
the real filesystem, changed in every way an incremental meets, walked both ways from the same
parent; snapshots, stored trees and every count must be identical (tests/unit/test_native.py fails
when the module was not built)."""

# Paths here are bytes or str on purpose (os functions: names need not be UTF-8).
# ruff: noqa: PTH119
from __future__ import annotations

import os
import random
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drkit.repo.engine.backup import ParentTrees, TreeBackup, WalkResult
from drkit.repo.engine.dirscan import DirScanner
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.tree import Node, NodeType, decode_tree, encode_tree
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_tree_fidelity import FakeWriter, _cutoff_after, _wait_past
from tests.unit.repo.treefidelity import AS_ROOT, fs_supports_user_xattrs


def _build(root: Path, rng: random.Random, *, xattrs: bool) -> None:
    """A random tree: nested dirs, small and multi-chunk files, empty files and dirs, sparse files,
    symlinks, hard links, a FIFO, xattrs here and there."""
    dirs = [root]
    root.mkdir()
    for i in range(rng.randint(8, 14)):
        d = rng.choice(dirs) / f"d{i}"
        d.mkdir()
        dirs.append(d)
    files: list[Path] = []
    for i in range(rng.randint(60, 90)):
        p = rng.choice(dirs) / f"f{i}{rng.choice(['', '.py', '.txt'])}"
        kind = rng.random()
        if kind < 0.1:
            p.write_bytes(b"")
        elif kind < 0.2:
            p.write_bytes(rng.randbytes(rng.randint(20_000, 60_000)))  # several chunks
        elif kind < 0.25:
            with p.open("wb") as f:
                f.truncate(1 << 20)
                f.seek(rng.randint(0, 1 << 19))
                f.write(b"\x01" * 4096)
        else:
            p.write_bytes(rng.randbytes(rng.randint(1, 3000)))
        files.append(p)
    for i in range(4):
        os.link(rng.choice(files), rng.choice(dirs) / f"hl{i}")
    for i in range(5):
        (rng.choice(dirs) / f"ln{i}").symlink_to(rng.choice(["f1", "../nowhere", "/etc/hostname"]))
    os.mkfifo(rng.choice(dirs) / "fifo")
    if AS_ROOT:  # owners without a name here
        for p in rng.sample(files, len(files) // 3):
            os.chown(p, 12345, rng.choice([0, 54321]))
        os.chown(rng.choice(dirs[1:]), 0, 54321)
    (root / os.fsdecode(b"raw-\xfe-name")).write_bytes(b"not utf-8")
    if xattrs:
        for p in rng.sample(files, 5):
            os.setxattr(p, "user.k", rng.randbytes(4))
        os.setxattr(rng.choice(dirs[1:]), "user.dir", b"x")


def _change(root: Path, rng: random.Random, *, xattrs: bool) -> None:
    """Change the tree in every way: content, mode, mtime set back, ctime only, new and removed
    names, a file becoming a dir and back, links retargeted, new hard links, xattrs, unreadable
    entries."""
    every = sorted(root.rglob("*"))
    files = [p for p in every if p.is_file() and not p.is_symlink()]
    dirs = [root, *(p for p in every if p.is_dir() and not p.is_symlink())]
    for p in rng.sample(files, 6):
        st = p.lstat()
        p.write_bytes(p.read_bytes()[::-1] + b"!")
        if rng.random() < 0.5:
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime set back
    for p in rng.sample(files, 3):
        p.chmod(rng.choice([0o600, 0o755, 0o4755]))
    for p in rng.sample(files, 3):
        os.utime(p, ns=(1_000_000_000, rng.randint(1, 10**18)))
    for p in rng.sample(files, 2):
        os.utime(p)  # ctime and mtime only
    for i in range(5):
        (rng.choice(dirs) / f"new{i}").write_bytes(rng.randbytes(rng.randint(0, 5000)))
    (rng.choice(dirs) / "newdir" / "deeper").mkdir(parents=True)
    for p in rng.sample([p for p in files if p.exists()], 4):
        p.unlink()
    gone = [p for p in files if p.exists()]
    swap = rng.choice(gone)
    swap.unlink()
    swap.mkdir()  # a file that became a directory
    (swap / "inside").write_bytes(b"x")
    os.utime(rng.choice(dirs[1:]), ns=(1, 2))  # a directory's own mtime
    links = [p for p in every if p.is_symlink()]
    for p in rng.sample(links, 2):
        p.unlink()
        p.symlink_to(rng.choice(["elsewhere", "f2"]))
    survivors = [p for p in gone if p.exists() and p.is_file()]
    os.link(rng.choice(survivors), rng.choice(dirs) / "hl-new")
    if xattrs:
        for p in rng.sample(survivors, 3):
            os.setxattr(p, "user.new", b"v")
        os.setxattr(rng.choice(dirs), "user.dirnew", b"w")
        for p in [*survivors, *dirs]:
            if "user.k" in os.listxattr(p) or "user.dir" in os.listxattr(p):
                os.removexattr(p, "user.k" if p.is_file() else "user.dir")
    locked = rng.choice(survivors)
    locked.chmod(0)  # unreadable unless root
    (rng.choice(dirs) / "locked-dir").mkdir(mode=0)


def _walk(src: Path, w: FakeWriter, parent: ParentTrees | None, *, native: bool, xattrs: bool) -> TreeBackup:
    tb = TreeBackup(w, SMALL_CHUNKS, workers=2, native=native, xattrs=xattrs)
    tb.run(src, parent)
    return tb


def _copy(w: FakeWriter) -> FakeWriter:
    out = FakeWriter()
    out.blobs = dict(w.blobs)
    return out


def _same_walk(a: TreeBackup, b: TreeBackup, wa: FakeWriter, wb: FakeWriter) -> None:
    ra, rb = a._result, b._result
    assert ra is not None
    assert rb is not None
    fields = [f for f in WalkResult.__dataclass_fields__ if f not in ("tree", "referenced", "skipped")]
    assert ra.tree == rb.tree
    assert {f: getattr(ra, f) for f in fields} == {f: getattr(rb, f) for f in fields}
    assert ra.skipped == rb.skipped
    assert ra.referenced == rb.referenced
    assert wa.blobs == wb.blobs  # the same trees and chunks stored


def _forged(n: Node, k: int) -> Node:
    """``n`` with one field the filesystem does not have (a parent tree that disagrees with it)."""
    changes: dict[str, object] = {
        "mode": n.mode ^ 0o100,
        "uid": n.uid + 1,
        "gid": n.gid + 1,
        "user": None if n.user else "someone",
        "group": "other" if n.group is None else n.group + "x",
        "mtime_ns": n.mtime_ns - 1,
        "xattrs": () if n.xattrs else (("user.forged", b"1"),),
    }
    if n.type is NodeType.FILE:
        changes |= {
            "size": n.size + 1,
            "inode": n.inode + 1,
            "device": n.device + 1,
            "links": 0 if n.links else 2,
            "sparse": not n.sparse,
        }
    field = sorted(changes)[k % len(changes)]
    return replace(n, **{field: changes[field]})  # type: ignore[arg-type]


def _parity(tmp_path: Path, seed: int, *, xattrs: bool, renumber: bool, forge: bool = False) -> None:
    rng = random.Random(seed)
    src = tmp_path / "src"
    xattrs = xattrs and fs_supports_user_xattrs(tmp_path)
    _build(src, rng, xattrs=xattrs)
    w = FakeWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w, None, native=False, xattrs=xattrs)
    assert first._result is not None
    _wait_past(cutoff)
    _change(src, rng, xattrs=xattrs)

    def read(tree_id: bytes) -> bytes:
        if not renumber and not forge:
            return w.raw(tree_id)
        nodes = decode_tree(w.raw(tree_id), where="t")
        if renumber:
            nodes = [replace(n, device=n.device + 7) if n.inode else n for n in nodes]
        if forge:
            pick = random.Random(tree_id)
            nodes = [_forged(n, pick.randrange(12)) if pick.random() < 0.5 else n for n in nodes]
        return encode_tree(nodes)

    parent = ParentTrees(first._result.tree, read, cutoff)
    wn, wp = _copy(w), _copy(w)
    try:
        native = _walk(src, wn, parent, native=True, xattrs=xattrs)
        python = _walk(src, wp, parent, native=False, xattrs=xattrs)
    finally:
        for p in src.rglob("*"):
            if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) == 0:
                p.chmod(0o700)
    assert native._scanned_dirs > 0
    assert python._scanned_dirs == 0
    _same_walk(native, python, wn, wp)
    assert native._result is not None
    assert native._result.reused_files > 0
    # and the next walk, from this one (the locked entries opened again since: changed)
    again = ParentTrees(native._result.tree, wn.raw, cutoff if renumber else _cutoff_after(src))
    wn2, wp2 = _copy(wn), _copy(wn)
    n2 = _walk(src, wn2, again, native=True, xattrs=xattrs)
    p2 = _walk(src, wp2, again, native=False, xattrs=xattrs)
    _same_walk(n2, p2, wn2, wp2)


@pytest.mark.parametrize("seed", range(6))
def test_scan_and_python_walk_agree_on_random_changes(tmp_path: Path, seed: int) -> None:
    _parity(tmp_path, seed, xattrs=seed % 2 == 0, renumber=False)


@pytest.mark.parametrize("seed", range(2))
def test_scan_and_python_walk_agree_with_a_renumbered_device(tmp_path: Path, seed: int) -> None:
    _parity(tmp_path, 100 + seed, xattrs=True, renumber=True)


@pytest.mark.parametrize("seed", range(6))
def test_scan_and_python_walk_agree_on_a_parent_that_disagrees_with_the_files(
    tmp_path: Path, seed: int
) -> None:
    """Parent entries with one field off (mode, owner ids and names, mtime, size, inode, device,
    links, sparse, xattrs): both walks refuse exactly the same entries."""
    _parity(tmp_path, 200 + seed, xattrs=seed % 2 == 0, renumber=False, forge=True)


@pytest.mark.parametrize("seed", range(2))
def test_scan_and_python_walk_agree_where_the_splice_declines(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed directory's tree is spliced from its parent's in C (``_scan.splice``); where that
    declines (too many owner names), the walk decodes the parent's entries and encodes in Python."""
    real = DirScanner.__init__

    def declining(self: DirScanner, *args: Any, **kw: Any) -> None:
        real(self, *args, **kw)
        self.splice = lambda parent, keep, new: None

    monkeypatch.setattr(DirScanner, "__init__", declining)
    _parity(tmp_path, 300 + seed, xattrs=seed % 2 == 0, renumber=False)


def test_a_reused_chunk_missing_from_the_index_makes_the_directory_read_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"f{i}").write_bytes(b"content %d\n" % i)
    w = FakeWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w, None, native=False, xattrs=True)
    assert first._result is not None
    lost = FakeWriter()
    lost.blobs = {k: v for k, v in w.blobs.items() if v != b"content 3\n"}  # a pack pruned away
    parent = ParentTrees(first._result.tree, w.raw, cutoff)
    reads: dict[bool, list[bytes]] = {}
    for native in (True, False):
        tb = TreeBackup(_copy(lost), SMALL_CHUNKS, workers=2, native=native)
        got: list[bytes] = []
        tb.on_read = got.append
        tb.run(src, parent)
        assert tb._result is not None
        assert tb._result.tree == first._result.tree
        reads[native] = sorted(os.path.basename(p) for p in got)
    assert reads[True] == reads[False] == [b"f3"]


def test_a_directory_listed_in_several_reads_of_its_entries(tmp_path: Path) -> None:
    """The scan lists a directory 32 KiB of records at a time (getdents64): one with more names than
    that holds is listed whole, and a change anywhere in it is found, as the Python walk finds it."""
    src = tmp_path / "src"
    (src / "big").mkdir(parents=True)
    names = [f"{i:05d}-{'n' * 60}" for i in range(1500)]  # ~120 KiB of records
    for n in names:
        (src / "big" / n).write_bytes(n.encode())
    w = FakeWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w, None, native=False, xattrs=False)
    assert first._result is not None
    _wait_past(cutoff)
    for n in (names[3], names[700], names[-1]):
        (src / "big" / n).write_bytes(b"changed")
    (src / "big" / names[900]).unlink()
    parent = ParentTrees(first._result.tree, w.raw, cutoff)
    wn, wp = _copy(w), _copy(w)
    native = _walk(src, wn, parent, native=True, xattrs=False)
    python = _walk(src, wp, parent, native=False, xattrs=False)
    assert native._scanned_dirs == 2
    _same_walk(native, python, wn, wp)
    assert native._result is not None
    assert (native._result.files, native._result.reused_files) == (1499, 1496)


def test_a_tree_the_scan_cannot_take_is_left_to_the_python_walk(tmp_path: Path) -> None:
    """A parent tree in version 1 (JSON) or with entries out of order: no scan, the same result."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"f{i}").write_bytes(b"%d" % i)
    w = FakeWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w, None, native=False, xattrs=True)
    assert first._result is not None
    raw = w.raw(first._result.tree)
    n = int.from_bytes(raw[4:8], "little")
    assert n == 4
    # swap the first two names (same length): a tree out of order, otherwise well formed
    names_at = len(raw) - 4 * 2 - 4 * 32  # the names, then 4 ids, no targets, no xattrs
    assert raw[names_at : names_at + 8] == b"f0f1f2f3"
    unsorted = raw[:names_at] + b"f1f0" + raw[names_at + 4 :]
    tid = w.add(BlobType.TREE, unsorted)
    tb = _walk(src, _copy(w), ParentTrees(tid, w.raw, cutoff), native=True, xattrs=True)
    assert tb._scanned_dirs == 0
    assert tb._result is not None
    assert tb._result.tree == first._result.tree


@pytest.mark.parametrize("change", ["mode", "mtime", "xattr-removed", "xattr-added", "owner"])
def test_a_directory_whose_own_metadata_changed_but_not_its_contents(tmp_path: Path, change: str) -> None:
    """Its subtree id stays the parent's; its entry is made anew, the same in both walks and in a
    walk without parent."""
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "f").write_bytes(b"f")
    (src / "c").mkdir()
    xattrs = fs_supports_user_xattrs(tmp_path)
    if change.startswith("xattr") and not xattrs:
        pytest.skip("no user xattrs on this filesystem")  # tmp_path is on one that has them in CI
    if change == "owner" and not AS_ROOT:
        pytest.skip("changing an owner needs root")
    if change == "xattr-removed":
        os.setxattr(src / "a", "user.gone", b"1")
    w = FakeWriter()
    cutoff = _cutoff_after(src)
    first = _walk(src, w, None, native=False, xattrs=True)
    assert first._result is not None
    a = src / "a"
    if change == "mode":
        a.chmod(0o701)
    elif change == "mtime":
        os.utime(a, ns=(1, 5))
    elif change == "xattr-removed":
        os.removexattr(a, "user.gone")
    elif change == "xattr-added":
        os.setxattr(a, "user.new", b"1")
    else:
        os.chown(a, 12345, 54321)
    parent = ParentTrees(first._result.tree, w.raw, cutoff)
    wn, wp = _copy(w), _copy(w)
    native = _walk(src, wn, parent, native=True, xattrs=True)
    python = _walk(src, wp, parent, native=False, xattrs=True)
    _same_walk(native, python, wn, wp)
    fresh = _walk(src, FakeWriter(), None, native=False, xattrs=True)
    assert native._result is not None
    assert fresh._result is not None
    assert native._result.tree == fresh._result.tree != first._result.tree
