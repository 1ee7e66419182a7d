"""``_scan.splice``: a changed directory's tree made from its parent tree's kept entries (not decoded)
and the entries made anew must be exactly the bytes ``encode_tree`` gives for the same entries, or
None where it cannot be (a name in both, a tree that is not valid version 2, too many owner names),
never a wrong tree. The walk's use of it is covered by the parity tests (tests/unit/repo/test_dirscan.py);
damaged parent trees by tests/unit/repo/test_dirscan_hostile.py."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from drkit import native
from drkit.repo.format.tree import Entry, NodeType, encode_tree, tree_map

_OWNERS = [None, "root", "alice", "b\udcfe", "", "grüppe"]


@pytest.fixture
def scan() -> ModuleType:
    module = native.load("_scan")
    if module is None:
        pytest.skip("the compiled scan is not built (tests/unit/test_native.py fails)")
    return module


def _entry(rng: random.Random, name: bytes) -> Entry:
    t = rng.choice([NodeType.FILE, NodeType.FILE, NodeType.DIR, NodeType.SYMLINK])
    keys = rng.sample(["user.a", "user.b", "security.selinux", "trusted.\udcff"], rng.choice([0, 0, 1, 2]))
    xattrs = tuple(sorted(((k, rng.randbytes(rng.randint(0, 6))) for k in keys), key=lambda kv: kv[0]))
    owner = (rng.choice(_OWNERS), rng.choice(_OWNERS))
    mode, uid, gid = rng.randint(0, 0o7777), rng.randint(0, 70000), rng.randint(0, 70000)
    mtime = rng.randint(-(2**62), 2**62)
    if t is NodeType.FILE:
        return Entry(
            name, t, mode, uid, gid, mtime, rng.randint(0, 2**50), rng.randbytes(32 * rng.randint(0, 3)),
            b"", *owner, xattrs, rng.randint(0, 2**63), rng.randint(0, 2**40), rng.choice([0, 0, 2, 7]),
            rng.random() < 0.2,
        )  # fmt: skip
    if t is NodeType.DIR:
        sub = rng.randbytes(32)
        return Entry(name, t, mode, uid, gid, mtime, 0, sub, b"", *owner, xattrs, 0, 0, 0, False)
    target = rng.randbytes(rng.randint(0, 30))
    return Entry(name, t, 0o777, uid, gid, mtime, 0, b"", target, *owner, xattrs, 0, 0, 0, False)


def _names(rng: random.Random, count: int) -> set[bytes]:
    return {rng.randbytes(rng.randint(1, 5)).replace(b"/", b"_").replace(b"\0", b"-") for _ in range(count)}


def test_spliced_trees_are_the_encoders_bytes(scan: ModuleType) -> None:
    rng = random.Random(20261203)
    for case in range(2000):
        parent = encode_tree([_entry(rng, n) for n in _names(rng, rng.randint(0, 40))])
        olds = list(tree_map(parent, where="parent").entries.values())  # in the tree's order
        keep = bytearray(rng.random() < rng.random() for _ in olds)
        kept = [e for e, k in zip(olds, keep, strict=True) if k]
        new = [_entry(rng, n) for n in _names(rng, rng.randint(0, 8)) - {e.name for e in kept}]
        encoded_new = encode_tree(new) if new or rng.random() < 0.5 else b""
        assert scan.splice(parent, keep, encoded_new) == encode_tree(kept + new), case


def test_a_name_in_both_trees_is_declined(scan: ModuleType) -> None:
    rng = random.Random(7)
    olds = [_entry(rng, n) for n in (b"a", b"b", b"c")]
    parent = encode_tree(olds)
    assert scan.splice(parent, b"\x00\x01\x00", encode_tree([_entry(rng, b"b")])) is None
    # not kept: the new entry of that name replaces it
    new = _entry(rng, b"b")
    assert scan.splice(parent, b"\x01\x00\x01", encode_tree([new])) == encode_tree([olds[0], new, olds[2]])


def test_what_is_not_a_valid_version_2_tree_is_declined(scan: ModuleType) -> None:
    rng = random.Random(8)
    parent = encode_tree([_entry(rng, b"x"), _entry(rng, b"y")])
    assert scan.splice(parent[:-1], b"\x01\x01", b"") is None
    assert scan.splice(b'{"entries": [], "version": 1}', b"", b"") is None
    assert scan.splice(parent, b"\x01\x01", b"DRT\x02" + bytes(7)) is None
    with pytest.raises(ValueError, match="one byte per entry"):
        scan.splice(parent, b"\x01", b"")


def test_more_owner_names_than_the_splice_keeps_are_declined(scan: ModuleType) -> None:
    rng = random.Random(9)
    many = [_entry(rng, b"%03d" % i)._replace(user=f"user{i}", group=None) for i in range(100)]
    parent = encode_tree(many)
    assert scan.splice(parent, b"\x01" * 100, b"") is None
    assert scan.splice(parent, b"\x01" * 30 + b"\x00" * 70, b"") == encode_tree(many[:30])
