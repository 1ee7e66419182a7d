"""``SealingTree`` hands its trees to the encoder as ``Entry`` tuples (the compiled encoder's input),
and they encode to the bytes the Python encoder makes of the same entries as ``Node`` objects."""

from __future__ import annotations

import hashlib

from drkit import native
from drkit.repo.engine.opentree import SealingTree
from drkit.repo.format import tree
from drkit.repo.format.splittree import SPLIT_ABOVE
from drkit.repo.format.tree import Entry, Node, NodeType, encode_tree, encode_tree_py, entry_node


def test_every_tree_is_entries_that_encode_as_their_nodes_do() -> None:
    given: list[list[Entry]] = []

    def store(entries: list[Entry]) -> bytes:
        given.append(list(entries))
        return hashlib.blake2b(encode_tree(entries), digest_size=32).digest()

    def store_split(parts: list[tuple[bytes, int]]) -> bytes:
        return b"S" * 32

    t = SealingTree(1_000, store, store_split)
    ids = (b"\x01" * 32, b"\x02" * 32)
    for i in range(SPLIT_ABOVE + 2_000):  # one large directory: stored in parts while it fills
        t.add_file((b"r", b"big", f"o-{i:06d}".encode()), (0o600, 5_000 + i, 10 + i, ids[: 1 + i % 2]))
    t.add_file((b"r", b"small", b"a"), (0o644, 7, 3, ()))  # no chunks: an empty file
    t.add((b"etcd", b"snapshot.db"), Node(b"snapshot.db", NodeType.FILE, 0o600, 0, 0, 9, size=1, content=ids))
    assert t.seal((b"r", b"small"), final=True)
    t.encode()
    assert len(given) >= 5  # parts of big, big's rest, small, r, etcd, root
    for entries in given:
        assert all(type(e) is Entry for e in entries)
        assert encode_tree(entries) == encode_tree_py([entry_node(e) for e in entries])
    if native.load("_tree") is not None:  # the compiled encoder takes them (declines nothing here)
        assert all(tree._native.encode(entries, tree._TYPES) is not None for entries in given)
    files = [e for entries in given for e in entries if e.type is NodeType.FILE]
    assert len(files) == SPLIT_ABOVE + 2_000 + 2
    assert {e.ids for e in files if e.name.startswith(b"o-")} == {ids[0], ids[0] + ids[1]}
