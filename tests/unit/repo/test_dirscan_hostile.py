"""The compiled scan (``drkit/native/_scan.c``) parses parent trees in C: hostile or damaged tree bytes
must never crash it or make it accept what the Python reader rejects.

A parent tree is authenticated, but anyone holding a writer credential can seal one, so its bytes are
input like any other. Every truncation of a real version 2 tree, thousands of seeded byte changes
and the header's counts set to extremes are scanned in a child process (a crash is then a clear
failure naming the case, not a dead test run); the child checks each result's shape and that the
scan takes a tree only when ``tree_map`` (the Python reader) accepts it too. ``splice`` (a changed
directory's tree from its parent's) gets the same trees, as the parent and as the new entries: it
declines what the Python reader rejects, and what it takes it re-encodes as ``encode_tree`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drkit import native
from drkit.errors import DrkitError
from drkit.repo.engine.backup import TreeBackup
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.tree import encode_tree, tree_map
from tests.unit.repo.test_tree_fidelity import FakeWriter

ROOT = Path(__file__).resolve().parents[3]


def _cases(tree: bytes) -> list[tuple[str, bytes]]:
    import random

    rng = random.Random(20261203)
    cases = [(f"truncated to {n}", tree[:n]) for n in range(len(tree))]
    cases += [(f"extended by {n}", tree + bytes(n)) for n in (1, 8, 4096)]
    for i in range(3000):
        b = bytearray(tree)
        for _ in range(rng.choice([1, 1, 2, 4, 16])):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append((f"bytes changed #{i}", bytes(b)))
    for field in (4, 8):  # entries, strings (little-endian u32 after the magic)
        for value in (0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF):
            b = bytearray(tree)
            b[field : field + 4] = value.to_bytes(4, "little")
            cases.append((f"header u32 at {field} = {value:#x}", bytes(b)))
    for at in range(12, len(tree) - 3, 4):  # every aligned u32 of the columns set to its extreme
        b = bytearray(tree)
        b[at : at + 4] = b"\xff\xff\xff\xff"
        cases.append((f"u32 at {at} = 0xffffffff", bytes(b)))
    return cases


def fuzz(directory: str, tree_file: str) -> None:
    """Run in the child: scan ``directory`` against every case made from the tree in ``tree_file``."""
    module = native.load("_scan")
    assert module is not None
    tree = Path(tree_file).read_bytes()
    intact = len(tree_map(tree, where="intact").entries)
    scanner = module.Scanner(0, False, True, BlobType.DATA)
    for uid in {os.getuid(), *(os.lstat(e.path).st_uid for e in os.scandir(directory))}:
        scanner.set_user(uid, b"someone")
    for gid in {os.getgid(), *(os.lstat(e.path).st_gid for e in os.scandir(directory))}:
        scanner.set_group(gid, b"somegroup")
    taken = rejected = 0
    for what, data in _cases(tree):
        print(what, flush=True)  # the last line names the case if the scan crashes
        got = scanner.scan(os.fsencode(directory), data)
        assert got[0] in (0, 2), (what, got)
        try:
            tree_map(data, where="fuzz")
            python_ok = True
        except DrkitError:
            python_ok = False
        count = int.from_bytes(data[4:8], "little") if len(data) >= 8 else 0
        if count <= 1 << 16:  # splicing every entry of it re-encodes it, or declines
            spliced = module.splice(data, b"\x01" * count, b"")
            if spliced is not None:
                assert python_ok, f"{what}: the splice took a tree the Python reader rejects"
                kept = list(tree_map(data, where="fuzz").entries.values())
                assert spliced == encode_tree(kept), what
        as_new = module.splice(tree, bytes(intact), data)  # the damaged tree as the entries made anew
        if as_new is not None and data:  # b"": no new entries
            assert python_ok, f"{what}: the splice took a new tree the Python reader rejects"
            assert as_new == encode_tree(list(tree_map(data, where="fuzz").entries.values())), what
        if got[0] == 2:
            assert python_ok, f"{what}: the scan took a tree the Python reader rejects"
            assert len(got[1]) == len(list(Path(directory).iterdir())), what
            taken += 1
        else:
            rejected += 1
    print(f"done: {taken} taken, {rejected} left to Python", flush=True)


@pytest.mark.skipif(native.load("_scan") is None, reason="the compiled scan is not built (test_native fails)")
def test_damaged_parent_trees_never_crash_the_scan_nor_pass_where_python_refuses(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(6):
        (src / f"f{i}").write_bytes(b"x" * (i * 100 + 1))
    (src / "link").symlink_to("f1")
    writer = FakeWriter()
    walk = TreeBackup(writer, ChunkerParams(), workers=1)
    result = walk.run(src)
    tree = writer.raw(result.tree)
    tree_map(tree, where="the intact tree")  # the starting point is a valid version 2 tree
    (tmp_path / "t").write_bytes(tree)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from {__name__} import fuzz; fuzz({str(src)!r}, {str(tmp_path / 't')!r})",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last = out.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    assert out.returncode == 0, f"the scan failed (exit {out.returncode}) at: {last[0]}\n{out.stderr[-2000:]}"
    assert last[0].startswith("done: ")
    taken = int(last[0].split()[1])
    assert taken >= 1, last[0]  # changed ids or times leave a valid tree: those are scanned
    assert int(last[0].split()[3]) >= 1000, last[0]  # and most damage is refused
