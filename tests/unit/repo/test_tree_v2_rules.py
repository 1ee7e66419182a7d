"""Tree format version 2 rule by rule (docs/format.md, "Trees"): what the encoder writes for fields
that do not apply, the order of xattrs, names that are not UTF-8, what it refuses, and every refusal
of a stored tree naming the tree (and the entry). Found as gaps by mutation testing (docs/testing.md,
fourth round)."""

from __future__ import annotations

import json
import struct

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.format.tree import (
    MAGIC,
    Entry,
    Node,
    NodeType,
    decode_tree,
    encode_tree,
    node_entry,
    tree_map,
)
from tests.unit.repo.test_tree_v2 import _patched
from tests.unit.repo.treev1 import encode_tree_v1

A = bytes(range(32))
S = bytes(range(64, 96))
WHERE = "0123abcd (snapshot 42)"


def _refusal(data: bytes, reader: object = decode_tree) -> str:
    with pytest.raises(VerificationFailed) as err:
        reader(data, where=WHERE)  # type: ignore[operator]
    return err.value.message


def _file(name: bytes = b"f", **kw: object) -> Node:
    return Node(name, NodeType.FILE, 0o644, 1, 2, 3, **kw)  # type: ignore[arg-type]


def test_a_single_link_is_not_recorded() -> None:
    """``links`` is ``st_nlink`` when above 1: a file with one link encodes as one without a count."""
    assert encode_tree([_file(links=1, inode=5, device=6)]) == encode_tree(
        [_file(links=0, inode=5, device=6)]
    )
    assert node_entry(_file(links=1)).links == 0
    (back,) = decode_tree(encode_tree([_file(links=2, inode=5, device=6)]), where=WHERE)
    assert back.links == 2


def test_a_directory_keeps_no_size() -> None:
    """A directory's ``st_size`` is not a file size: the encoder drops it, and the tree reads back."""
    d = Node(b"d", NodeType.DIR, 0o755, 0, 0, 1, size=4096, subtree=S)
    data = encode_tree([d])
    assert data == encode_tree([Node(b"d", NodeType.DIR, 0o755, 0, 0, 1, subtree=S)])
    assert decode_tree(data, where=WHERE)[0].size == 0


def test_the_highest_mode_bits_are_kept() -> None:
    f = Node(b"f", NodeType.FILE, 0o7777, 1, 2, 3)  # setuid, setgid, sticky and rwx for all
    assert decode_tree(encode_tree([f]), where=WHERE) == [f]


def test_xattrs_are_kept_in_byte_order_of_their_names() -> None:
    """Names that sort differently as text and as bytes (a name that is not UTF-8, read with
    surrogateescape): the entry a backup builds equals the one read back from the stored tree, so an
    unchanged file is recognised as unchanged."""
    xattrs = (("user.\u0800", b"1"), ("user.\udc80", b"2"))  # text order; as bytes \x80 < \xe0
    f = _file(xattrs=xattrs)
    data = encode_tree([f])
    assert node_entry(f) == tree_map(data, where=WHERE).entries[b"f"]
    assert [k for k, _ in decode_tree(data, where=WHERE)[0].xattrs] == ["user.\udc80", "user.\u0800"]


def test_owner_and_xattr_names_that_are_not_utf8_round_trip() -> None:
    """Owner names from a passwd file and xattr names are read as text with surrogateescape: bytes
    that are not UTF-8 are kept exactly."""
    f = _file(user="b\udce9atrice", group="gr\udcfcppe", xattrs=(("user.\udcff", b"v"),))
    data = encode_tree([f])
    assert b"b\xe9atrice" in data
    assert decode_tree(data, where=WHERE) == [f]
    assert tree_map(data, where=WHERE).entries[b"f"] == node_entry(f)


@pytest.mark.parametrize(
    "node",
    [
        _file(content=(A[:31],)),
        Node(b"f", NodeType.DIR, 0o755, 0, 0, 1),  # a directory without its tree
    ],
    ids=["a 31-byte chunk id", "a dir without subtree"],
)
def test_the_encoder_refuses_malformed_ids(node: Node) -> None:
    with pytest.raises(ValueError, match=r"^b'f': malformed ids$"):
        encode_tree([node])


@pytest.mark.parametrize(
    "xattrs",
    [(("", b"v"),), (("user.a", b"1"), ("user.a", b"2"))],
    ids=["an empty name", "a name twice"],
)
def test_the_encoder_refuses_empty_or_repeated_xattr_names(xattrs: tuple[tuple[str, bytes], ...]) -> None:
    with pytest.raises(ValueError, match=r"^b'f': xattr names must be unique and non-empty$"):
        encode_tree([_file(xattrs=xattrs)])


def test_the_encoder_refuses_a_name_twice_whatever_else_differs() -> None:
    with pytest.raises(ValueError, match=r"^duplicate name b'x' in a tree$"):
        encode_tree([_file(b"x", user="u"), _file(b"x")])


def test_a_dir_with_file_fields_after_a_file_is_refused_naming_both() -> None:
    data = encode_tree([_file(b"a"), Node(b"b", NodeType.DIR, 0o755, 0, 0, 1, subtree=S)])
    bad = _patched(data, 8, 2, "Q", (0, 1))  # b's size
    for reader in (decode_tree, tree_map):
        assert _refusal(bad, reader) == f"tree {WHERE}: b'b' has file fields on a dir"


def _xattr_tree() -> tuple[bytes, int]:
    """A tree with one file with two xattrs, and where its xattr records start."""
    data = encode_tree([_file(xattrs=(("user.a", b"1"), ("user.b", b"value")))])
    return data, data.index(struct.pack("<I", 6) + b"user.a")


def test_every_truncation_is_called_truncated() -> None:
    data = encode_tree(
        [
            _file(b"f", content=(A,), size=3, user="alice", group="staff"),
            Node(b"d", NodeType.DIR, 0o755, 0, 0, 1, subtree=S, user="root"),
            Node(b"l", NodeType.SYMLINK, 0o777, 0, 0, 1, target=b"../t"),
        ]
    )
    for cut in range(len(MAGIC), len(data)):  # shorter: not even the version 2 magic
        for reader in (decode_tree, tree_map):
            assert _refusal(data[:cut], reader) == f"tree {WHERE} is truncated", cut


def test_a_tree_cut_inside_an_xattr_length_is_truncated() -> None:
    data, at = _xattr_tree()
    for reader in (decode_tree, tree_map):
        assert _refusal(data[: at + 2], reader) == f"tree {WHERE} is truncated"


def test_an_xattr_name_longer_than_the_tree_is_truncated() -> None:
    data, at = _xattr_tree()
    bad = data[:at] + struct.pack("<I", 0xFFFFFFFF) + data[at + 4 :]
    assert _refusal(bad) == f"tree {WHERE} is truncated"


@pytest.mark.parametrize("reader", [decode_tree, tree_map], ids=["decode_tree", "tree_map"])
def test_an_empty_xattr_name_or_a_cut_value_is_malformed_naming_the_entry(reader: object) -> None:
    data, at = _xattr_tree()
    empty = data[:at] + struct.pack("<I", 0) + data[at + 4 + 6 :]
    assert _refusal(empty, reader) == f"tree {WHERE}: b'f' has malformed xattrs"
    cut = data[:-1]  # the last value, b"value", one byte short
    assert _refusal(cut, reader) == f"tree {WHERE}: b'f' has malformed xattrs"


def test_a_version_1_tree_that_is_not_json_is_malformed_naming_the_tree() -> None:
    for reader in (decode_tree, tree_map):
        message = _refusal(b'{"entries": [', reader)
        assert message.startswith(f"tree {WHERE} is malformed: "), message
        entry = {"type": "file", "mode": 0, "uid": 0, "gid": 0}  # no name
        doc = json.dumps({"entries": [entry], "version": 1}).encode()
        assert _refusal(doc, reader) == f"tree {WHERE} is malformed: 'name_hex'"


def test_a_version_1_tree_with_a_hostile_name_is_read_into_a_map_but_never_restored() -> None:
    """As for version 2: a backup looks entries up by the names it lists, which are always safe."""
    data = encode_tree_v1([Node(b"..", NodeType.SYMLINK, 0o777, 0, 0, 0, target=b"x")])
    assert json.loads(data)["entries"][0]["name"] == ".."
    assert list(tree_map(data, where=WHERE).entries) == [b".."]
    assert _refusal(data) == f"tree {WHERE} has a hostile entry name b'..'"


def test_entries_read_into_a_map_are_those_the_encoder_takes() -> None:
    nodes = [_file(b"f", links=3, inode=7, device=8, sparse=True, content=(A,), size=9)]
    m = tree_map(encode_tree(nodes), where=WHERE)
    assert m.canonical is True
    assert isinstance(m.entries[b"f"], Entry)
    assert m.entries[b"f"] == node_entry(nodes[0])
