"""Split trees (docs/format.md, "Split trees"): a directory of more than ``SPLIT_ABOVE`` entries is
stored as parts while its files arrive, reads back as one directory through every reader, and gives
the same trees whatever the order of arrival; ordinary directories keep their bytes; a repository
whose large directory is one tree (written before) still reads; a hostile split tree is refused with
its id and the part named."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.engine import opentree
from drkit.repo.engine.opentree import SealingTree
from drkit.repo.format.splittree import (
    PART_MAX,
    PART_MIN,
    SPLIT_ABOVE,
    cut_parts,
    encode_split,
    is_split,
    read_split,
    read_tree,
)
from drkit.repo.format.tree import Node, NodeType, decode_tree, encode_tree
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SafeStore, new_repo, open_repo

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NS = "resources/core/v1/configmaps/big"
N = SPLIT_ABOVE + 3_000


def _id(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


class _Blobs:
    """A content-addressed fake of the writer's tree store."""

    def __init__(self) -> None:
        self.trees: dict[bytes, bytes] = {}

    def store(self, nodes: list[Node]) -> bytes:
        return self.put(encode_tree(nodes))

    def store_split(self, parts: list[tuple[bytes, int]]) -> bytes:
        return self.put(encode_split(parts))

    def put(self, plain: bytes) -> bytes:
        i = _id(plain)
        self.trees[i] = plain
        return i

    def read(self, tree_id: bytes) -> list[Node]:
        return read_tree(self.trees[tree_id], where=tree_id.hex(), part=self.trees.__getitem__)


def _entry(i: int) -> tuple[bytes, opentree.FileEntry]:
    return f"cm-{i:06d}.json".encode(), (0o600, 1_000 + i, 10 + i, (_id(str(i).encode()),))


def _tree_of(order: list[int], *, split: bool = True) -> tuple[bytes, _Blobs, SealingTree]:
    blobs = _Blobs()
    tree = SealingTree(0, blobs.store, blobs.store_split if split else None)
    for i in order:
        name, e = _entry(i)
        tree.add_file((b"r", b"ns", name), e)
    root, _mtime = tree.encode()
    return root, blobs, tree


def _dir(blobs: _Blobs, root: bytes) -> bytes:
    [r] = blobs.read(root)
    [ns] = blobs.read(r.subtree or b"")
    assert ns.type is NodeType.DIR
    assert ns.subtree is not None
    return ns.subtree


def test_a_large_directory_is_stored_in_parts_as_it_arrives_and_reads_back_whole() -> None:
    root, blobs, tree = _tree_of(list(range(N)))
    ns = _dir(blobs, root)
    assert is_split(blobs.trees[ns])
    parts = read_split(blobs.trees[ns], where="x")
    assert len(parts) == tree.parts >= 2
    assert all(PART_MIN <= c <= PART_MAX for _i, c in parts[:-1])
    nodes = blobs.read(ns)
    assert [n.name for n in nodes] == [_entry(i)[0] for i in range(N)]
    whole = [
        Node(name, NodeType.FILE, e[0], 0, 0, e[1], size=e[2], content=e[3])
        for name, e in map(_entry, range(N))
    ]
    assert nodes == whole
    [r] = blobs.read(root)
    [nsnode] = blobs.read(r.subtree or b"")
    assert nsnode.mtime_ns == 1_000 + N - 1  # the newest entry's, as for any directory


def test_the_parts_do_not_depend_on_the_order_of_arrival() -> None:
    in_order, _b, streamed = _tree_of(list(range(N)))
    shuffled = list(range(N))
    random.Random(7).shuffle(shuffled)
    at_once, _b2, whole = _tree_of(shuffled)
    late = [*range(0, 9_000), *range(9_001, N), 9_000]  # parts stored, then one out of order
    back, _b3, unsplit = _tree_of(late)
    assert in_order == at_once == back
    assert streamed.unsplit == 0
    assert whole.unsplit == 0
    assert unsplit.unsplit == 1


def test_ordinary_directories_keep_their_bytes() -> None:
    for n in (0, 1, 100, SPLIT_ABOVE):
        split_on, blobs, _t = _tree_of(list(range(n)))
        split_off, _b, _t2 = _tree_of(list(range(n)), split=False)
        assert split_on == split_off
        assert not any(is_split(p) for p in blobs.trees.values())


def test_a_large_directory_in_name_order_is_not_held_in_memory() -> None:
    blobs = _Blobs()
    tree = SealingTree(0, lambda nodes: _id(repr(len(nodes)).encode()), blobs.store_split)
    tree.add_file((b"warm", b"up"), _entry(0)[1])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(60_000):
            name, e = _entry(i)
            tree.add_file((b"r", b"ns", name), e)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # held, 60,000 entries took ~17 MB; now at most one part's worth (PART_MAX entries) is in memory
    assert grown < 4 * 1024 * 1024, grown
    assert tree.parts >= 6


def test_a_sealed_split_directory_reopens_with_every_entry() -> None:
    blobs = _Blobs()
    tree = SealingTree(0, blobs.store, blobs.store_split)
    for i in range(N):
        name, e = _entry(i)
        tree.add_file((b"r", b"ns", name), e)
    assert tree.seal((b"r", b"ns"))
    name, e = _entry(N)
    tree.add_file((b"r", b"ns", name), e)  # reopens it from the temporary file
    root, _m = tree.encode()
    assert tree.reopened == 1
    assert root == _tree_of(list(range(N + 1)))[0]


# -- through the repository: every reader -----------------------------------------------------------


def _write(store: SafeStore) -> tuple[Repository, str, dict[str, bytes]]:
    new_repo(store)
    repo = open_repo(store)
    objects = {f"{NS}/cm-{i:06d}.json": f'{{"i":{i}}}'.encode() for i in range(N)}
    with repo.new_snapshot(host="c1") as snap:
        for path, data in objects.items():
            snap.add_bytes(path, data, mtime=T)
        snap.add_bytes("resources/core/v1/configmaps/small/a.json", b"{}", mtime=T)
    assert snap.snapshot is not None
    return repo, snap.snapshot.id, objects


def test_every_reader_follows_a_split_directory(tmp_path: Path) -> None:
    store = SafeStore()
    repo, snap_id, objects = _write(store)
    reader = open_repo(store).snapshot_reader(snap_id)
    listed = [e.path for e in reader.list(NS)]
    assert listed == list(objects)
    assert reader.read_bytes(f"{NS}/cm-004321.json") == objects[f"{NS}/cm-004321.json"]
    assert reader.entry(f"{NS}/cm-{N - 1:06d}.json").size == len(objects[f"{NS}/cm-{N - 1:06d}.json"])
    reader.restore_to(NS, tmp_path / "ns")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ns").iterdir()} == {
        k.rsplit("/", 1)[1]: v for k, v in objects.items()
    }
    report = open_repo(store).verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.blobs_checked == N + 1
    assert report.trees_checked >= 6 + 2 + 2  # root..configmaps, the split list and its parts, small
    # a parent's trees (an incremental's directory lookups) follow the parts too
    snap = repo.find_snapshot(snap_id)
    pt = repo.parent_trees(snap, snap.tree)
    tree = snap.tree
    for name in NS.split("/"):
        tree = next(n for n in pt.nodes(tree) if n.name == name.encode()).subtree or b""
    assert len(pt.nodes(tree)) == N
    # a second identical capture stores nothing new: the parts dedup
    with open_repo(store).new_snapshot(host="c1") as again:
        for path, data in objects.items():
            again.add_bytes(path, data, mtime=T)
        again.add_bytes("resources/core/v1/configmaps/small/a.json", b"{}", mtime=T)
    assert again.snapshot is not None
    assert again.snapshot.tree == snap.tree
    assert again.snapshot.stats.new_packs == 0


def test_a_large_directory_written_as_one_tree_before_still_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SafeStore()
    with monkeypatch.context() as m:
        m.setattr(opentree, "SPLIT_ABOVE", 10**9)  # as every writer before split trees
        _repo, snap_id, objects = _write(store)
    reader = open_repo(store).snapshot_reader(snap_id)
    assert [e.path for e in reader.list(NS)] == list(objects)
    reader.restore_to(NS, tmp_path / "ns")
    assert len(list((tmp_path / "ns").iterdir())) == N
    assert open_repo(store).verify(read_data_percent=100).ok
    # the big directory is one ordinary tree there
    repo = open_repo(store)
    snap = repo.find_snapshot(snap_id)
    pt = repo.parent_trees(snap, snap.tree)
    tree = snap.tree
    for name in NS.split("/"):
        tree = next(n for n in pt.nodes(tree) if n.name == name.encode()).subtree or b""
    assert not is_split(pt.read(tree))
    assert len(decode_tree(pt.read(tree), where="old")) == N


# -- hostile and corrupt split trees ---------------------------------------------------------------


def _parts(n: int) -> tuple[dict[bytes, bytes], list[tuple[bytes, int]]]:
    nodes = [Node(f"f{i:05d}".encode(), NodeType.FILE, 0o600, 0, 0, 1) for i in range(n)]
    trees: dict[bytes, bytes] = {}
    parts = []
    for run in cut_parts(nodes, lambda x: x.name):
        plain = encode_tree(run)
        trees[_id(plain)] = plain
        parts.append((_id(plain), len(run)))
    return trees, parts


def _fetch(trees: dict[bytes, bytes]):  # type: ignore[no-untyped-def]
    def get(i: bytes) -> bytes:
        if i not in trees:
            raise VerificationFailed(f"tree blob {i.hex()} is in no index")
        return trees[i]

    return get


def test_hostile_split_trees_are_refused_naming_the_tree_and_the_part() -> None:
    trees, parts = _parts(12_000)
    assert len(parts) >= 3
    good = encode_split(parts)
    assert len(read_tree(good, where="S", part=_fetch(trees))) == 12_000
    p0, p1 = parts[0], parts[1]
    swapped = encode_split([p1, p0, *parts[2:]])
    with pytest.raises(
        VerificationFailed, match=rf"{p0[0].hex()} \(part 2 of \d+ of split tree S\) is out of order"
    ):
        read_tree(swapped, where="S", part=_fetch(trees))
    miscounted = encode_split([(p0[0], p0[1] + 1), *parts[1:]])
    with pytest.raises(VerificationFailed, match=rf"{p0[0].hex()} \(part 1 .*has {p0[1]} entries, not"):
        read_tree(miscounted, where="S", part=_fetch(trees))
    nested_id = _id(good)
    trees[nested_id] = good
    nested = encode_split([(nested_id, 12_000)])
    with pytest.raises(VerificationFailed, match="is itself split"):
        read_tree(nested, where="S", part=_fetch(trees))
    missing = encode_split([*parts, (b"\7" * 32, 1)])
    with pytest.raises(VerificationFailed, match=r"0707.* is in no index \(part \d+ of split tree S\)"):
        read_tree(missing, where="S", part=_fetch(trees))
    with pytest.raises(VerificationFailed, match="split tree S is truncated"):
        read_tree(good[:10], where="S", part=_fetch(trees))
    with pytest.raises(VerificationFailed, match=r"split tree S has .* bytes of part ids"):
        read_tree(good + b"\0", where="S", part=_fetch(trees))
    head = bytearray(good)
    head[4:8] = (12_001).to_bytes(4, "little")
    with pytest.raises(VerificationFailed, match="says 12001 entries but its parts hold 12000"):
        read_tree(bytes(head), where="S", part=_fetch(trees))
    hostile = encode_tree([Node(b"..", NodeType.FILE, 0o600, 0, 0, 1)])
    trees[_id(hostile)] = hostile
    with pytest.raises(VerificationFailed, match="hostile entry name"):
        read_tree(encode_split([(_id(hostile), 1)]), where="S", part=_fetch(trees))
    # a reader that does not follow parts says so instead of misreading
    with pytest.raises(VerificationFailed, match="is a split tree"):
        decode_tree(good, where="S")


def test_verify_reports_a_split_tree_with_a_missing_or_bad_part() -> None:
    store = SafeStore()
    new_repo(store)
    repo = open_repo(store)
    with repo.new_snapshot(host="c1") as snap:
        snap.add_bytes("d/a", b"x", mtime=T)
    assert snap.snapshot is not None
    # a split tree naming a part in no index, stored as the TREE blob of a directory
    bad = encode_split([(b"\5" * 32, 3)])
    with open_repo(store).new_snapshot(host="c1") as s2:
        sid = s2._store_plain_tree(bad)
        s2._tree.add((b"big",), Node(b"big", NodeType.DIR, 0o700, 0, 0, 1, subtree=sid))
    report = open_repo(store).verify()
    assert not report.ok
    [problem] = [p for p in report.problems if "split tree" in p.message]
    assert problem.object == "tree " + "05" * 32
    assert "part 1 of split tree" in problem.message
