"""A snapshot written by path stores finished directories as it goes (``SnapshotWriter.seal``): same
trees as storing everything at the end, memory for the directories still open only."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import UTC, datetime

import pytest

from drkit.errors import ConfigError
from drkit.repo.engine.opentree import SealingTree
from drkit.repo.format.tree import Entry
from tests.unit.repo.repohelpers import SafeStore, new_repo, open_repo

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _paths(kinds: int, namespaces: int, names: int) -> list[str]:
    return [
        f"resources/core/v1/kind{k}/ns{n}/obj-{i}.json"
        for k in range(kinds)
        for n in range(namespaces)
        for i in range(names)
    ]


def test_sealing_as_it_goes_stores_the_same_trees_and_reopens_a_directory_added_to_later() -> None:
    store = SafeStore()
    new_repo(store)
    paths = _paths(3, 4, 25)
    data = {p: f'{{"p":"{p}"}}'.encode() for p in paths}
    with open_repo(store).new_snapshot(host="c1") as whole:
        whole.add_bytes("etcd/snapshot.db", b"db", mtime=T)
        for p in paths:
            whole.add_bytes(p, data[p], mtime=T)
    late = "resources/core/v1/kind0/ns1/obj-7.json"  # added after its directory was sealed
    with open_repo(store).new_snapshot(host="c1") as sealed:
        sealed.add_bytes("etcd/snapshot.db", b"db", mtime=T)
        assert sealed.seal("etcd")
        for k in range(3):
            for n in range(4):
                for p in paths:
                    if p.startswith(f"resources/core/v1/kind{k}/ns{n}/") and p != late:
                        sealed.add_bytes(p, data[p], mtime=T)
                assert sealed.seal(f"resources/core/v1/kind{k}/ns{n}")
            if k == 0:
                sealed.add_bytes(late, data[late], mtime=T)  # reopens kind0/ns1
                assert sealed.seal("resources/core/v1/kind0")  # not final: kind0 stays reopenable
            else:
                assert sealed.seal(f"resources/core/v1/kind{k}", final=True)
        assert not sealed.seal("resources/core/v1/missing")
        assert not sealed.seal("etcd/snapshot.db")  # a file, not a directory
    assert whole.snapshot is not None
    assert sealed.snapshot is not None
    assert sealed.snapshot.tree == whole.snapshot.tree  # byte for byte the same trees
    assert sealed.snapshot.stats.files == whole.snapshot.stats.files == len(paths) + 1
    assert sealed.snapshot.stats.dirs == whole.snapshot.stats.dirs
    reader = open_repo(store).snapshot_reader(sealed.snapshot.short_id)
    assert reader.read_bytes(late) == data[late]
    assert {e.path for e in reader.list("resources/") if e.type == "file"} == set(paths)


def test_a_directory_sealed_for_good_refuses_more_entries_with_the_path() -> None:
    snap = new_repo(SafeStore()).new_snapshot()
    snap.add_bytes("resources/core/v1/pods/a/x.json", b"{}")
    assert snap.seal("resources/core/v1/pods", final=True)
    with pytest.raises(
        ConfigError, match=r"resources/core/v1/pods/b/y\.json.*'resources/core/v1/pods' was sealed"
    ):
        snap.add_bytes("resources/core/v1/pods/b/y.json", b"{}")
    with pytest.raises(ConfigError, match="was sealed"):
        snap.add_bytes("resources/core/v1/pods/a/x2.json", b"{}")
    with pytest.raises(ConfigError, match="empty path"):
        snap.seal("")
    snap.add_bytes("resources/core/v1/services/a/s.json", b"{}")  # beside it: fine
    result = snap.commit()
    assert result.stats.files == 2
    with pytest.raises(ConfigError, match="committed"):
        snap.seal("resources")


def test_memory_holds_the_open_directories_not_every_entry() -> None:
    # identical contents: one data blob, so that the entries are what could grow
    snap = new_repo(SafeStore()).new_snapshot()
    snap.add_bytes("resources/warm/up.json", b"{}")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k in range(40):
            for n in range(10):
                for i in range(50):
                    snap.add_bytes(
                        f"resources/g/v1/kind{k}/namespace-{n}/object-number-{i}.json", b"{}", mtime=T
                    )
                snap.seal(f"resources/g/v1/kind{k}/namespace-{n}")
            snap.seal(f"resources/g/v1/kind{k}", final=True)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 20,000 entries held until commit took ~6 MB; sealed, what stays is a tree id per directory
    assert grown < 1024 * 1024, grown
    assert snap.commit().stats.files == 20_001


def test_directories_sealed_for_reopening_keep_their_entries_out_of_memory() -> None:
    # one resource type over many namespaces (a whole-cluster list): its namespaces stay reopenable
    # until the type ends; what reopening needs lies in a temporary file, not in memory
    stored: list[list[Entry]] = []

    def store_tree(nodes: list[Entry]) -> bytes:
        stored.append(nodes)
        return hashlib.blake2b(repr(len(stored)).encode(), digest_size=32).digest()

    tree = SealingTree(0, store_tree)
    tree.add_file((b"warm", b"up"), (0o600, 1, 2, (b"\0" * 32,)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(400):
            for i in range(50):
                blob = hashlib.blake2b(f"{n}/{i}".encode(), digest_size=32).digest()  # incompressible ids
                tree.add_file(
                    (b"r", b"configmaps", f"ns-{n:04d}".encode(), f"cm-{i:04d}.json".encode()),
                    (0o600, 1, 500, (blob,)),
                )
            assert tree.seal((b"r", b"configmaps", f"ns-{n:04d}".encode()))
            stored.clear()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # in memory, 20,000 entries' compressed copies took ~1.2 MB; now a place in the file per directory
    assert grown < 300 * 1024, grown  # ~140 KB here
    late = (b"r", b"configmaps", b"ns-0007", b"cm-late.json")
    tree.add_file(late, (0o600, 1, 1, (b"\1" * 32,)))  # reopens ns-0007 from the file
    assert tree.reopened == 1
    tree.encode()
    [ns7] = [nodes for nodes in stored if any(n.name == b"cm-late.json" for n in nodes)]
    assert len(ns7) == 51
    assert ns7[7].ids == hashlib.blake2b(b"7/7", digest_size=32).digest()  # an Entry: ids joined
    tree.close()
