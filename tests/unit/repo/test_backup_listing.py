"""Directories listed and their entries ``lstat``ed in C (``drkit.native._walk.listdir``, the GIL
released once per directory) or in Python (``os.scandir``, ``os.lstat``, ``os.listxattr`` per entry):
the same fields, the same snapshot, the same problems worded the same way."""

# Paths are bytes here, as in the walk: os functions on purpose.
# ruff: noqa: PTH118
from __future__ import annotations

import errno
import os
from pathlib import Path
from types import ModuleType

import pytest

from drkit import native
from drkit.repo.engine.backup import TreeBackup, WalkResult
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_backup_native_read import Writer
from tests.unit.repo.treefidelity import make_every_kind_tree

_FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")


@pytest.fixture
def walk() -> ModuleType:
    module = native.load("_walk")
    if module is None:
        pytest.skip("the compiled lister is not built (tests/unit/test_native.py fails)")
    return module


def _has_xattrs(path: bytes) -> bool:
    try:
        return bool(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return False


def test_every_entry_is_listed_with_its_lstat(walk: ModuleType, tmp_path: Path) -> None:
    root = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    far = root / "far-future"
    far.write_bytes(b"x")
    os.utime(far, ns=(0, 2**63 + 123))  # past 2262: beyond a signed 64-bit count of nanoseconds
    old = root / "far-past"
    old.write_bytes(b"x")
    os.utime(old, ns=(0, -(2**63) - 7))
    seen = 0
    for top, dirs, files in os.walk(os.fsencode(root)):
        got = walk.listdir(top, True)
        assert not isinstance(got, int)
        names, stats = got
        assert names == sorted(dirs + files)
        for name, st in zip(names, stats, strict=True):
            full = os.path.join(top, name)
            want = os.lstat(full)
            assert tuple(getattr(st, f) for f in _FIELDS) == tuple(getattr(want, f) for f in _FIELDS)
            assert (st.st_mtime_ns, st.st_ctime_ns) == (want.st_mtime_ns, want.st_ctime_ns)
            assert st.bare is not _has_xattrs(full)
            seen += 1
        # without xattrs asked for, none is taken as certainly bare (the walk reads none anyway)
        unasked = walk.listdir(top, False)
        assert not isinstance(unasked, int)
        assert not any(s.bare for s in unasked[1])
    assert seen > 20
    assert walk.listdir(os.fsencode(root / "nope"), True) == errno.ENOENT
    assert walk.listdir(os.fsencode(root / "small.txt"), True) == errno.ENOTDIR
    with pytest.raises(ValueError, match="null"):
        walk.listdir(b"a\0b", True)


def _walked(src: Path, *, listing: bool, lister: object = None) -> tuple[WalkResult, Writer]:
    writer = Writer()
    walker = TreeBackup(writer, SMALL_CHUNKS, workers=2)  # type: ignore[arg-type]
    assert walker._listdir is not None  # built here (else the compiled side compares Python with itself)
    if not listing:
        walker._listdir = None
    elif lister is not None:
        walker._listdir = lister  # type: ignore[assignment]
    return walker.run(src), writer


def test_both_listings_give_the_same_snapshot(walk: ModuleType, tmp_path: Path) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    c, c_writer = _walked(src, listing=True)
    py, py_writer = _walked(src, listing=False)
    assert c.tree == py.tree
    assert c_writer.blobs == py_writer.blobs
    counts = ("files", "dirs", "symlinks", "bytes", "read_files", "hardlinks", "sparse_files", "skipped")
    assert [getattr(c, k) for k in counts] == [getattr(py, k) for k in counts]
    assert c.referenced == py.referenced
    assert c.skipped  # the FIFO and the socket, reported alike


def test_entries_that_cannot_be_stat_or_listed_are_reported_as_the_python_walk_words_them(
    walk: ModuleType, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"a")
    (src / "b").write_bytes(b"b")
    (src / "sub" / "c").write_bytes(b"c")

    def lister(path: bytes, xattrs: bool) -> int | tuple[list[bytes], list[object]]:
        if path.endswith(b"/sub"):
            return errno.EACCES
        got = walk.listdir(path, xattrs)
        assert not isinstance(got, int)
        names, stats = got
        return names, [errno.ENOENT if n == b"b" else s for n, s in zip(names, stats, strict=True)]

    res, _ = _walked(src, listing=True, lister=lister)
    assert res.skipped == [
        "b: cannot stat: No such file or directory",
        "sub: cannot list directory: Permission denied",
    ]
    assert (res.files, res.dirs) == (1, 1)
