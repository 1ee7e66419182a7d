"""Tree format version 2 (docs/format.md, "Trees"): the byte layout as specified, canonical, every
malformed or hostile tree refused with VerificationFailed; version 1 repositories still read, restore
exactly and serve as an incremental backup's parent."""

from __future__ import annotations

import contextlib
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.engine import backup
from drkit.repo.format.tree import (
    MAGIC,
    Node,
    NodeType,
    decode_tree,
    encode_tree,
    node_entry,
    tree_map,
)
from tests.unit.repo.repohelpers import Clock, SafeStore, new_repo
from tests.unit.repo.treefidelity import fidelity_view, make_every_kind_tree
from tests.unit.repo.treev1 import encode_tree_v1

A = bytes(range(32))
B = bytes(range(32, 64))
S = bytes(range(64, 96))


def _every_kind() -> list[Node]:
    return [
        Node(b"f", NodeType.FILE, 0o4755, 1000, 1000, -5, size=7, content=(A, B), user="alice",
             group="staff", xattrs=(("user.b", b""), ("user.a", b"\x00\xff")), inode=9, device=3,
             links=2, sparse=True),
        Node(b"d", NodeType.DIR, 0o1777, 0, 0, 1, subtree=S, user="root", group="root"),
        Node(b"l\xff", NodeType.SYMLINK, 0o777, 1000, 5, 2, target=b"../t\xfe", user="alice"),
        Node(b"e", NodeType.FILE, 0o600, 1, 2, 3),
    ]  # fmt: skip


def test_the_layout_is_the_one_docs_format_md_specifies() -> None:
    f = Node(b"b", NodeType.FILE, 0o644, 1000, 100, 7, size=5, content=(A,), user="u", group="g",
             xattrs=(("user.k", b"v"),), inode=11, device=12, links=2, sparse=True)  # fmt: skip
    d = Node(b"a", NodeType.DIR, 0o755, 0, 0, -1, subtree=S, user="u")
    n = 2
    expected = b"".join(
        [
            b"DRT\x02",
            struct.pack("<II", n, 2),  # entries, strings
            struct.pack("<BB", 1, 0),  # type: a dir, b file
            struct.pack("<BB", 0, 1),  # flags: b sparse
            struct.pack("<HH", 0o755, 0o644),
            struct.pack("<II", 0, 1000),  # uid
            struct.pack("<II", 0, 100),  # gid
            struct.pack("<II", 1, 1),  # user: "u" is string 1
            struct.pack("<II", 0, 2),  # group: "g" is string 2
            struct.pack("<qq", -1, 7),  # mtime_ns
            struct.pack("<QQ", 0, 5),  # size
            struct.pack("<QQ", 0, 11),  # inode
            struct.pack("<QQ", 0, 12),  # device
            struct.pack("<II", 0, 2),  # links
            struct.pack("<II", 1, 1),  # name lengths
            struct.pack("<II", 1, 1),  # id counts
            struct.pack("<II", 0, 0),  # target lengths
            struct.pack("<II", 0, 1),  # xattr counts
            struct.pack("<II", 1, 1),  # string lengths
            b"ug",  # strings
            b"ab",  # names
            S + A,  # ids
            struct.pack("<I", 6) + b"user.k" + struct.pack("<I", 1) + b"v",  # xattrs
        ]
    )
    assert encode_tree([f, d]) == expected
    assert decode_tree(expected, where="t") == [d, f]
    assert encode_tree([]) == b"DRT\x02" + bytes(8)
    assert decode_tree(encode_tree([]), where="t") == []


def test_every_kind_round_trips_and_the_encoding_is_canonical() -> None:
    nodes = _every_kind()
    one = encode_tree(nodes)
    assert one.startswith(MAGIC)
    assert encode_tree(reversed(nodes)) == one
    assert encode_tree([node_entry(n) for n in nodes]) == one
    back = decode_tree(one, where="t")
    want = [replace(n, xattrs=tuple(sorted(n.xattrs))) for n in nodes]
    assert back == sorted(want, key=lambda n: n.name)
    assert encode_tree(back) == one
    m = tree_map(one, where="t")
    assert m.canonical
    assert encode_tree(m.entries.values()) == one
    assert not tree_map(encode_tree_v1(nodes), where="t").canonical
    assert tree_map(encode_tree_v1(nodes), where="t").entries == m.entries
    with pytest.raises(ValueError, match="duplicate"):
        encode_tree([nodes[0], nodes[0]])


def test_every_truncation_and_trailing_byte_is_refused() -> None:
    data = encode_tree(_every_kind())
    for cut in range(len(data)):
        with pytest.raises(VerificationFailed):
            decode_tree(data[:cut], where="t")
    with pytest.raises(VerificationFailed, match="1 trailing bytes"):
        decode_tree(data + b"\x00", where="t")


def test_a_flipped_byte_either_decodes_or_is_refused_never_crashes() -> None:
    data = encode_tree(_every_kind())
    for i in range(4, len(data)):
        for v in (0x00, 0x01, 0x02, 0x7F, 0xFF):
            bad = data[:i] + bytes([v]) + data[i + 1 :]
            for read in (decode_tree, tree_map):
                with contextlib.suppress(VerificationFailed):
                    read(bad, where="t")


@pytest.mark.parametrize("name", [b"..", b".", b"", b"a/b", b"/abs", b"nul\x00"])
def test_hostile_names_are_refused(name: bytes) -> None:
    data = encode_tree([Node(name, NodeType.SYMLINK, 0, 0, 0, 0, target=b"x")])  # the encoder checks none
    with pytest.raises(
        VerificationFailed, match=f"^{re.escape(f'tree t has a hostile entry name {name!r}')}$"
    ):
        decode_tree(data, where="t")
    assert list(tree_map(data, where="t").entries) == [name]  # never looked up: a backup lists names


def test_duplicates_and_disorder_are_refused() -> None:
    nodes = [Node(b"x1", NodeType.FILE, 0, 0, 0, 0), Node(b"x2", NodeType.FILE, 0, 0, 0, 0)]
    data = encode_tree(nodes)
    assert data.count(b"x1x2") == 1
    for names in (b"x1x1", b"x2x1"):
        with pytest.raises(VerificationFailed, match="not strictly sorted"):
            decode_tree(data.replace(b"x1x2", names), where="t")
    with pytest.raises(VerificationFailed, match="duplicate entry name"):
        tree_map(data.replace(b"x1x2", b"x1x1"), where="t")


def _patched(data: bytes, column: int, n: int, fmt: str, values: tuple[int, ...]) -> bytes:
    """``data`` with fixed-width column ``column`` (of a tree of ``n`` entries) set to ``values``."""
    sizes = [1, 1, 2, 4, 4, 4, 4, 8, 8, 8, 8, 4, 4, 4, 4, 4]
    at = 12 + n * sum(sizes[:column])
    return data[:at] + struct.pack(f"<{n}{fmt}", *values) + data[at + n * sizes[column] :]


@pytest.mark.parametrize(
    ("column", "fmt", "value", "message"),
    [
        (0, "B", 3, "has a malformed type, flag or mode"),
        (1, "B", 2, "has a malformed type, flag or mode"),
        (2, "H", 0o10000, "has a malformed type, flag or mode"),
        (5, "I", 2, "names an owner that is not in its table"),
        (6, "I", 2, "names an owner that is not in its table"),
        (8, "Q", 1, "b'd' has file fields on a dir"),
        (9, "Q", 1, "b'd' has file fields on a dir"),
        (10, "Q", 1, "b'd' has file fields on a dir"),
        (11, "I", 1, "b'd' has file fields on a dir"),
        (13, "I", 0, "b'd' has malformed ids or target"),
    ],
)
def test_malformed_fields_are_refused(column: int, fmt: str, value: int, message: str) -> None:
    d = Node(b"d", NodeType.DIR, 0o755, 0, 0, 1, subtree=S, user="u")  # string table: "u"
    data = encode_tree([d])
    decode_tree(_patched(data, column, 1, fmt, (0 if column != 13 else 1,)), where="t")  # valid as is
    bad = _patched(data, column, 1, fmt, (value,))
    with pytest.raises(VerificationFailed, match=message):
        decode_tree(bad, where="t")


def test_a_symlink_with_ids_and_a_file_with_a_target_are_refused() -> None:
    link = encode_tree([Node(b"l", NodeType.SYMLINK, 0, 0, 0, 0, target=b"t")])
    with pytest.raises(VerificationFailed, match="b'l' has malformed ids or target"):
        decode_tree(_patched(link, 13, 1, "I", (1,)) + A, where="t")
    file = encode_tree([Node(b"f", NodeType.FILE, 0, 0, 0, 0)])
    with pytest.raises(VerificationFailed, match="a file has a target"):
        decode_tree(_patched(file, 14, 1, "I", (1,)) + b"t", where="t")


def test_an_unknown_version_is_named() -> None:
    with pytest.raises(VerificationFailed, match=r"^tree t has unknown version 03$"):
        decode_tree(b"DRT\x03" + bytes(8), where="t")


def test_xattrs_out_of_order_or_duplicated_are_refused() -> None:
    f = Node(b"f", NodeType.FILE, 0, 0, 0, 0, xattrs=(("user.a", b"1"), ("user.b", b"2")))
    data = encode_tree([f])
    assert data.count(b"user.a") == 1
    decode_tree(data.replace(b"user.a", b"user.0"), where="t")  # still in order: fine
    for bad in (b"user.b", b"user.c"):
        with pytest.raises(VerificationFailed, match="b'f' has malformed xattrs"):
            decode_tree(data.replace(b"user.a", bad), where="t")


# -- a repository written with version 1 trees ------------------------------------------------------


def test_a_version_1_repository_restores_exactly_and_parents_a_version_2_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    clock = Clock(datetime.now(UTC) + timedelta(minutes=5))  # every file older than the backups
    repo = new_repo(SafeStore(), clock=clock)
    with monkeypatch.context() as m:
        m.setattr(backup, "encode_tree", encode_tree_v1)  # what drkit wrote before version 2
        old = repo.backup_path(src, host="h")
    root = repo.parent_trees(old, old.tree).read(old.tree)
    assert root.startswith(b'{"entries":[')
    dst = tmp_path / "dst-old"
    repo.restore_path(old.id, dst)
    assert fidelity_view(dst) == fidelity_view(src)
    assert not repo.verify().problems

    clock.now += timedelta(minutes=1)
    new = repo.backup_path(src, host="h")  # the version 1 snapshot is its parent
    assert new.stats.files == old.stats.files
    assert new.tree != old.tree
    assert repo.parent_trees(new, new.tree).read(new.tree).startswith(MAGIC)
    dst = tmp_path / "dst-new"
    repo.restore_path(new.id, dst)
    assert fidelity_view(dst) == fidelity_view(src)
    assert not repo.verify().problems
    clock.now += timedelta(minutes=1)
    again = repo.backup_path(src, host="h")  # a version 2 parent: the same files reused, same trees
    assert again.tree == new.tree
    assert again.stats.reused_files == new.stats.reused_files == new.stats.files - 2  # 2: further links
