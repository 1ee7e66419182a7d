"""The walk's read of a one-chunk file (straight ``os.read`` on the fd): a file that changes between
``lstat`` and the read is stored as read, and a file that vanishes or turns into something else is
reported per file, in walk order, while the rest of the tree is kept."""

# Paths are bytes here, as in the walk: os functions on purpose.
# ruff: noqa: PTH102, PTH108, PTH119
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from drkit.repo.engine.backup import TreeBackup, _read_all
from drkit.repo.engine.fsmeta import Xattrs
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.tree import Node, NodeType, decode_tree
from tests.unit.repo.repohelpers import SMALL_CHUNKS


class FakeWriter:
    """TreeBackup's view of the blob writer: blobs kept in a dict by SHA-256."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        bid = hashlib.sha256(raw).digest()
        self.blobs[(blob_type, bid)] = raw
        return bid

    def nodes(self, tree_id: bytes) -> dict[bytes, Node]:
        return {n.name: n for n in decode_tree(self.blobs[(BlobType.TREE, tree_id)], where="t")}

    def content(self, node: Node) -> bytes:
        return b"".join(self.blobs[(BlobType.DATA, c)] for c in node.content)


class Meddling(TreeBackup):
    """Runs ``meddle[name]`` between an entry's ``lstat`` and the read of its content."""

    meddle: dict[bytes, object]

    def _xattrs(self, full: bytes, rel: bytes, bare: bool = False) -> Xattrs:
        xattrs = super()._xattrs(full, rel, bare)
        action = self.meddle.get(os.path.basename(full))
        if callable(action):
            action(full)
        return xattrs


def _tree(root: Path) -> Path:
    root.mkdir()
    for name in ("a", "grows", "shrinks", "vanishes", "becomes-dir", "z"):
        (root / name).write_bytes(name.encode() * 10)
    return root


def test_a_small_file_is_stored_as_read_and_per_file_problems_are_reported_in_walk_order(
    tmp_path: Path,
) -> None:
    src = _tree(tmp_path / "src")
    grown = os.urandom(300_000)  # past the first read and past 64 KiB: the read loops
    assert len(b"grows" * 10) <= SMALL_CHUNKS.min_size  # stat'ed as a one-chunk file

    def grow(full: bytes) -> None:
        Path(os.fsdecode(full)).write_bytes(grown)

    def shrink(full: bytes) -> None:
        Path(os.fsdecode(full)).write_bytes(b"")

    def vanish(full: bytes) -> None:
        os.unlink(full)

    def become_dir(full: bytes) -> None:
        os.unlink(full)
        os.mkdir(full)

    writer = FakeWriter()
    reads: list[bytes] = []
    walker = Meddling(writer, SMALL_CHUNKS, workers=2, on_read=reads.append)  # type: ignore[arg-type]
    walker.meddle = {b"grows": grow, b"shrinks": shrink, b"vanishes": vanish, b"becomes-dir": become_dir}
    result = walker.run(src)

    assert result.skipped == [
        "becomes-dir: read error: Is a directory",
        "vanishes: cannot open: No such file or directory",
    ]
    nodes = writer.nodes(result.tree)
    assert sorted(nodes) == [b"a", b"grows", b"shrinks", b"z"]
    # what was read, as one chunk (a file stat'ed as small is never cut), not what lstat said
    assert nodes[b"grows"].size == len(grown)
    assert len(nodes[b"grows"].content) == 1
    assert writer.content(nodes[b"grows"]) == grown
    assert (nodes[b"shrinks"].size, nodes[b"shrinks"].content) == (0, ())
    for name in (b"a", b"z"):
        assert writer.content(nodes[name]) == name * 10
        assert nodes[name].type is NodeType.FILE
    assert result.files == 4
    assert result.bytes == len(grown) + 2 * 10
    # opened: counted and reported, also the one whose read then failed
    assert sorted(os.path.basename(r) for r in reads) == [b"a", b"becomes-dir", b"grows", b"shrinks", b"z"]
    assert result.read_files == 5
    assert all(b"//" not in r for r in reads)


def test_paths_are_joined_once_below_a_root_given_with_a_trailing_separator(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"f")
    reads: list[bytes] = []
    walker = TreeBackup(FakeWriter(), SMALL_CHUNKS, workers=1, on_read=reads.append)  # type: ignore[arg-type]
    walker.run(os.fsdecode(os.fsencode(src) + b"/"))  # type: ignore[arg-type]
    assert reads == [os.fsencode(src / "d" / "f")]


def test_read_all_reads_to_the_end_whatever_the_size_hint(tmp_path: Path) -> None:
    for size, hint in [(0, 0), (0, 10), (5, 0), (5, 5), (5, 100), (200_000, 3), (2_000_000, 1_000)]:
        p = tmp_path / f"f{size}-{hint}"
        data = os.urandom(size)
        p.write_bytes(data)
        fd = os.open(p, os.O_RDONLY)
        try:
            assert _read_all(fd, hint) == data, (size, hint)
        finally:
            os.close(fd)
