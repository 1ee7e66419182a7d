"""A damaged version 2 tree is refused naming the tree (drkit.repo.format.tree), whether it is decoded
into nodes (restore) or read into a map (an incremental backup's parent)."""

from __future__ import annotations

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.tree import Node, NodeType, decode_tree, encode_tree, tree_map

NODES = [
    Node(b"a", NodeType.FILE, 0o644, 0, 0, 1, size=3, content=(bytes(32),)),
    Node(b"l", NodeType.SYMLINK, 0o777, 0, 0, 1, target=b"a"),
]


@pytest.mark.parametrize("reader", [decode_tree, tree_map], ids=["decode_tree", "tree_map"])
@pytest.mark.parametrize("keep", [10, -1], ids=["in the header", "in the last entry"])
def test_a_truncated_tree_is_named(reader: object, keep: int) -> None:
    data = encode_tree(NODES)
    with pytest.raises(VerificationFailed) as err:
        reader(data[:keep], where="0123abcd (snapshot 42)")  # type: ignore[operator]
    assert err.value.message == "tree 0123abcd (snapshot 42) is truncated"
