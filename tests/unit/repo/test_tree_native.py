"""``_tree.encode``: a directory's tree encoded in C must be exactly the bytes the Python encoder gives
(the same tree ids, so snapshots and dedup do not change), and it must decline (None) everything the
Python encoder refuses or that it does not take as the walk makes it, leaving the Python encoder to
encode or raise as before."""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType

import pytest

from drkit import native
from drkit.repo.engine.backup import TreeBackup
from drkit.repo.format import tree
from drkit.repo.format.tree import Entry, Node, NodeType, encode_tree, encode_tree_py, tree_map
from tests.unit.repo.repohelpers import SMALL_CHUNKS
from tests.unit.repo.test_backup_native_read import Writer

_OWNERS = [None, "root", "alice", "b\udcfe", "", "grüppe", "\udcc3\udca9", "é"]
_TYPES = (NodeType.FILE, NodeType.DIR, NodeType.SYMLINK)


@pytest.fixture
def c_tree() -> ModuleType:
    module = native.load("_tree")
    if module is None:
        pytest.skip("the compiled encoder is not built (tests/unit/test_native.py fails)")
    return module


def _entry(rng: random.Random, name: bytes) -> Entry:
    t = rng.choice([NodeType.FILE, NodeType.FILE, NodeType.DIR, NodeType.SYMLINK])
    keys = rng.sample(
        ["user.a", "user.b", "security.selinux", "trusted.\udcff", "user.é", "user.\udcc3"],
        rng.choice([0, 0, 0, 1, 2, 4]),
    )
    xattrs = tuple((k, rng.randbytes(rng.randint(0, 6))) for k in keys)  # in any order: sorted on encoding
    owner = (rng.choice(_OWNERS), rng.choice(_OWNERS))
    mode, uid, gid = rng.randint(0, 0o7777), rng.choice([0, rng.randint(0, 2**32 - 1)]), rng.randint(0, 70000)
    mtime = rng.choice([rng.randint(-(2**63), 2**63 - 1), rng.randint(0, 2**61)])
    if t is NodeType.FILE:
        return Entry(
            name, t, mode, uid, gid, mtime, rng.choice([0, rng.randint(0, 2**64 - 1)]),
            rng.randbytes(32 * rng.randint(0, 3)), b"", *owner, xattrs, rng.randint(0, 2**64 - 1),
            rng.randint(0, 2**40), rng.choice([0, 0, 2, 2**32 - 1]), rng.random() < 0.2,
        )  # fmt: skip
    if t is NodeType.DIR:
        return Entry(
            name, t, mode, uid, gid, mtime, 0, rng.randbytes(32), b"", *owner, xattrs, 0, 0, 0, False
        )
    target = rng.randbytes(rng.randint(0, 30))
    return Entry(name, t, 0o777, uid, gid, mtime, 0, b"", target, *owner, xattrs, 0, 0, 0, False)


def _names(rng: random.Random, count: int) -> list[bytes]:
    names = {rng.randbytes(rng.randint(1, 6)) for _ in range(count)}
    names |= {b"a" * rng.randint(1, 4) for _ in range(rng.randint(0, 3))}  # prefixes of each other
    out = list(names)
    rng.shuffle(out)
    return out


def test_random_trees_encode_to_the_python_encoders_bytes(c_tree: ModuleType) -> None:
    rng = random.Random(20261203)
    for _case in range(3000):
        entries = [_entry(rng, n) for n in _names(rng, rng.choice([0, 1, 3, 20, 200]))]
        got = c_tree.encode(entries, _TYPES)
        assert got is not None
        assert got == encode_tree_py(entries)
        assert encode_tree(entries) == got
        # and it reads back as those entries
        read = tree_map(got, where="encoded").entries
        assert sorted(read) == sorted(e.name for e in entries)


def _one(**change: object) -> list[Entry]:
    base = Entry(b"x", NodeType.FILE, 0o644, 1, 2, 3, 4, b"\1" * 32, b"", "u", "g", (), 5, 6, 0, False)
    return [Entry(b"w", NodeType.DIR, 0o755, 0, 0, 0, 0, b"\2" * 32, b"", None, None, (), 0, 0, 0, False),
            base._replace(**change)]  # fmt: skip


@pytest.mark.parametrize(
    "entries",
    [
        _one(name=b"w"),  # a duplicate name
        _one(ids=b"\1" * 31),  # malformed ids
        _one(type=NodeType.DIR, ids=b""),  # a directory without its subtree id
        _one(uid=2**32),
        _one(gid=-1),
        _one(mode=0x10000),
        _one(size=-1),
        _one(size=2**64),
        _one(inode=2**64),
        _one(links=2**32),
        _one(mtime_ns=2**63),
        _one(mtime_ns=-(2**63) - 1),
        _one(sparse=1),  # not a bool: the Python encoder's business
        _one(type="file"),  # an equal str, not the member
        _one(uid=True),
        _one(uid=1.0),
        _one(name="x"),
        _one(name=bytearray(b"x")),
        _one(target=None),
        _one(user=b"u"),
        _one(xattrs=(("", b"v"),)),  # an empty xattr name
        _one(xattrs=(("user.a", b"1"), ("user.a", b"2"))),  # a repeated one
        _one(xattrs=(("user.a", "text"),)),
        _one(xattrs=[("user.a", b"v")]),
        _one(xattrs=(("user.a",),)),
    ],
)
def test_it_declines_what_the_walk_does_not_make(c_tree: ModuleType, entries: list[Entry]) -> None:
    """None, and ``encode_tree`` does what the Python encoder does (the same bytes or the same error)."""
    assert c_tree.encode(entries, _TYPES) is None
    try:
        want: bytes | type[BaseException] = encode_tree_py(entries)
    except Exception as e:  # noqa: BLE001 - whatever the Python encoder raises, encode_tree must too
        want = type(e)
    if isinstance(want, bytes):
        assert encode_tree(entries) == want
    else:
        with pytest.raises(want):
            encode_tree(entries)


def test_nodes_and_other_iterables_take_the_python_path(c_tree: ModuleType) -> None:
    nodes = [
        Node(b"b", NodeType.SYMLINK, 0o777, 0, 0, 1, target=b"t"),
        Node(b"a", NodeType.DIR, 0o755, 0, 0, 1, subtree=b"\3" * 32),
    ]
    assert c_tree.encode(nodes, _TYPES) is None
    assert encode_tree(nodes) == encode_tree_py(nodes)
    assert encode_tree(iter(nodes)) == encode_tree_py(nodes)
    assert c_tree.encode([], _TYPES) == encode_tree_py([])


def _source(src: Path) -> None:
    for d in range(5):
        sub = src / f"d{d % 2}" / f"e{d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(30):
            (sub / f"f{f:02}").write_bytes(b"%d %d\n" % (d, f) * (f * 5 % 200))
        (sub / "link").symlink_to(f"f{d:02}")
    (src / "big").write_bytes(random.Random(5).randbytes(300_000))


def test_a_walk_stores_the_same_trees_with_either_encoder(
    c_tree: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same snapshot (root tree id and every tree blob) with the compiled encoder and without."""
    _source(tmp_path / "src")
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(tree, "_native", c_tree if compiled else None)
        writer = Writer()
        res = TreeBackup(writer, SMALL_CHUNKS, workers=2).run(tmp_path / "src")  # type: ignore[arg-type]
        trees = {k: v for k, v in writer.blobs.items() if k[0].name == "TREE"}
        assert len(trees) == 8  # the root, d0, d1 and the five e*
        results.append((res.tree, trees))
    assert results[0] == results[1]
