"""Sample file trees and a strict comparison of two trees (contents, modes, mtimes, links, empty dirs)."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path


def make_sample_tree(root: Path, *, seed: int = 7) -> Path:
    """A small tree with the shapes a restore must keep: sizes from empty to several chunks,
    odd modes, fixed mtimes, relative and dangling symlinks, empty and nested directories."""
    rng = random.Random(seed)
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "empty.txt").write_bytes(b"")
    (root / "small.txt").write_text("hello drkit\n")
    (root / "dir" / "sub" / "random.bin").write_bytes(rng.randbytes(3 * 1024 * 1024 + 17))
    (root / "dir" / "repeated.txt").write_bytes(b"the same line again\n" * 200_000)
    (root / "dir" / "sub" / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "dir" / "sub" / "script.sh").chmod(0o750)
    (root / "small.txt").chmod(0o600)
    (root / "link-to-small").symlink_to("small.txt")
    (root / "dir" / "dangling").symlink_to("../does-not-exist")
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        if not path.is_symlink():
            os.utime(path, ns=(1_600_000_000_000_000_000 + i * 1_000_000_123,) * 2)
    return root


def describe_tree(root: Path) -> dict[str, tuple[object, ...]]:
    entries: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            entries[rel] = ("link", str(path.readlink()))
        elif stat.S_ISDIR(st.st_mode):
            entries[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        else:
            entries[rel] = (
                "file",
                stat.S_IMODE(st.st_mode),
                st.st_mtime_ns,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return entries


def assert_same_tree(expected: Path, actual: Path) -> None:
    want, got = describe_tree(expected), describe_tree(actual)
    assert sorted(got) == sorted(want), "different entries"
    for name, entry in want.items():
        assert got[name] == entry, f"{name} differs"
