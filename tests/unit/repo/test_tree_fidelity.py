"""File-tree fidelity: every kind of entry round trips byte- and metadata-identical; hostile trees
cannot escape the restore target; the parent cache reads only changed files (counted, not timed)."""

# ruff: noqa: PTH105, PTH108, PTH115, PTH119
from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drkit.errors import VerificationFailed
from drkit.repo.engine.backup import ParentTrees, TreeBackup
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.model import RootMeta, Snapshot, SnapshotStats
from drkit.repo.format.tree import Node, NodeType, _v1_nodes, decode_tree, encode_tree
from drkit.repo.repository import Repository
from tests.unit.repo.repohelpers import SMALL_CHUNKS, SafeStore, new_repo
from tests.unit.repo.treefidelity import (
    AS_ROOT,
    fidelity_view,
    fs_supports_user_xattrs,
    make_every_kind_tree,
)
from tests.unit.repo.treev1 import encode_tree_v1

# -- a fake of the blob writer: TreeBackup's own interface, blobs kept in a dict -------------------


class FakeWriter:
    def __init__(self) -> None:
        self.blobs: dict[tuple[BlobType, bytes], bytes] = {}

    @property
    def index(self) -> dict[tuple[BlobType, bytes], bytes]:
        return self.blobs

    def add(self, blob_type: BlobType, raw: bytes) -> bytes:
        import hashlib

        bid = hashlib.sha256(raw).digest()
        self.blobs[(blob_type, bid)] = raw
        return bid

    def raw(self, tree_id: bytes) -> bytes:
        return self.blobs[(BlobType.TREE, tree_id)]

    def tree(self, tree_id: bytes) -> list[Node]:
        return decode_tree(self.raw(tree_id), where=tree_id.hex())

    def nodes(self, tree_id: bytes) -> dict[bytes, Node]:
        """Every node below ``tree_id`` by relative path."""
        out: dict[bytes, Node] = {}
        for n in self.tree(tree_id):
            out[n.name] = n
            if n.type is NodeType.DIR and n.subtree is not None:
                for rel, sub in self.nodes(n.subtree).items():
                    out[n.name + b"/" + rel] = sub
        return out


def walk(
    src: Path, writer: FakeWriter, parent: ParentTrees | None = None, **kw: object
) -> tuple[TreeBackup, list[bytes]]:
    reads: list[bytes] = []
    tb = TreeBackup(writer, SMALL_CHUNKS, workers=2, on_read=reads.append, **kw)  # type: ignore[arg-type]
    tb.run(src, parent)
    return tb, reads


# -- round trips -----------------------------------------------------------------------------------


def test_every_kind_of_entry_round_trips_identically(tmp_path: Path) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    assert snap.stats.symlinks == 4
    skipped = "\n".join(snap.stats.skipped)
    assert "fifo: special file skipped (fifo)" in skipped
    assert "sock: special file skipped (socket)" in skipped
    if AS_ROOT:
        assert "null-dev: special file skipped (character device)" in skipped
    dst = tmp_path / "dst"
    repo.restore_path(snap.id, dst)
    assert fidelity_view(dst) == fidelity_view(src)
    # holes stay holes: the 8 MiB sparse file takes a few blocks, not 8 MiB
    restored = (dst / "sparse.img").stat()
    assert restored.st_size == 8 * 1024 * 1024
    assert restored.st_blocks * 512 <= 256 * 1024, restored.st_blocks
    # hard links: one inode, three names, inside the target
    a, b, c = (dst / "hl-a").stat(), (dst / "d1" / "hl-b").stat(), (dst / "d1" / "d2" / "hl-c").stat()
    assert a.st_ino == b.st_ino == c.st_ino
    assert a.st_nlink == 3
    # the link pointing out was recreated as a link, never followed
    assert os.readlink(dst / "out-link") == str(tmp_path / "outside")
    assert (tmp_path / "outside" / "victim.txt").read_bytes() == b"keep me\n"


def test_restoring_twice_into_the_same_target_gives_the_same_tree(tmp_path: Path) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    dst = tmp_path / "dst"
    repo.restore_path(snap.id, dst)
    (dst / "small.txt").write_bytes(b"edited after the restore")
    repo.restore_path(snap.id, dst)
    assert fidelity_view(dst) == fidelity_view(src)


def test_backup_records_names_links_sparse_and_reads_a_hard_linked_file_once(tmp_path: Path) -> None:
    src = make_every_kind_tree(tmp_path / "src", outside=tmp_path / "outside")
    w = FakeWriter()
    tb, reads = walk(src, w)
    res = tb._result
    assert res is not None
    nodes = w.nodes(res.tree)
    hl = [nodes[p] for p in (b"hl-a", b"d1/hl-b", b"d1/d2/hl-c")]
    assert len({n.link_group for n in hl}) == 1
    assert hl[0].link_group is not None
    assert {n.links for n in hl} == {3}
    assert sum(1 for r in reads if os.path.basename(r).startswith(b"hl-")) == 1
    assert res.hardlinks == 2
    assert nodes[b"sparse.img"].sparse
    assert not nodes[b"small.txt"].sparse
    assert nodes[b"setuid"].mode == 0o4755
    assert nodes[b"sticky"].mode == 0o1777
    import pwd

    assert nodes[b"empty.txt"].user == pwd.getpwuid(os.getuid()).pw_name
    if fs_supports_user_xattrs(tmp_path):
        assert dict(nodes[b"small.txt"].xattrs)["user.drkit.test"] == b"value\x00\xff"
        assert dict(nodes[b"d1"].xattrs)["user.dir"] == b"on a dir"


def test_old_trees_without_optional_fields_still_read() -> None:
    old = (
        b'{"entries":[{"content":[],"gid":0,"mode":420,"mtime_ns":5,"name":"a","size":0,'
        b'"type":"file","uid":0}],"version":1}'
    )
    (n,) = decode_tree(old, where="old")
    assert (n.inode, n.links, n.sparse, n.xattrs, n.user) == (0, 0, False, (), None)
    assert encode_tree_v1([n]) == old, "the kept version 1 encoder writes what drkit wrote then"
    assert decode_tree(encode_tree([n]), where="new") == [n]


def test_new_fields_round_trip_through_the_encoding() -> None:
    n = Node(
        b"f",
        NodeType.FILE,
        0o4755,
        1,
        2,
        3,
        size=0,
        user="alice",
        group="staff",
        xattrs=(("user.a", b"\x00\x01"), ("user.b", b"")),
        inode=77,
        device=5,
        links=2,
        sparse=True,
    )
    (back,) = decode_tree(encode_tree([n]), where="t")
    assert back == n


@pytest.mark.parametrize(
    "entry",
    [
        {"xattrs": ["user.a"]},
        {"xattrs": {"": "00"}},
        {"user": 5},
        {"size": -1},
    ],
)
def test_malformed_optional_fields_are_refused(entry: dict[str, object]) -> None:
    doc = {"content": [], "gid": 0, "mode": 420, "mtime_ns": 5, "name": "a", "size": 0, "type": "file"}
    doc |= {"uid": 0, **entry}
    with pytest.raises(VerificationFailed):
        decode_tree(json.dumps({"version": 1, "entries": [doc]}).encode(), where="t")


def test_restore_owners_numeric_by_default_and_by_name_when_asked(tmp_path: Path) -> None:
    if not AS_ROOT:
        pytest.skip("setting another owner needs root")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    os.chown(src / "f", 12345, 54321)
    os.lchown(src, 0, 0)
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    repo.restore_path(snap.id, tmp_path / "dst")
    st = (tmp_path / "dst" / "f").stat()
    assert (st.st_uid, st.st_gid) == (12345, 54321)


# -- parent cache: only changed files are read -----------------------------------------------------


def _cutoff_after(root: Path) -> int:
    """A ``changed_before_ns`` later than every ctime now in ``root`` (the parent backup's start)."""
    newest = max(p.lstat().st_ctime_ns for p in [root, *root.rglob("*")])
    return newest + 1


def _wait_past(ns: int) -> None:
    while time.time_ns() <= ns + 20_000_000:  # past the kernel's coarse ctime clock, too
        time.sleep(0.005)


def test_incremental_reads_only_changed_files_even_when_mtime_was_set_back(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(300):
        d = src / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(os.urandom(100 + i))
    cutoff = _cutoff_after(src)
    w = FakeWriter()
    first, reads = walk(src, w)
    assert len(reads) == 300
    assert first._result is not None
    _wait_past(cutoff)
    changed = [src / f"d{i % 10}" / f"f{i}" for i in (3, 150, 299)]
    for p in changed:
        st = p.stat()
        p.write_bytes(os.urandom(st.st_size))  # same size ...
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and mtime set back (touch -d)
        assert p.stat().st_ctime_ns >= cutoff
    parent = ParentTrees(first._result.tree, w.raw, changed_before_ns=cutoff)
    second, reads = walk(src, w, parent)
    assert sorted(reads) == sorted(os.fsencode(p) for p in changed)
    assert second._result is not None
    assert second._result.reused_files == 297


def test_parent_cache_requires_the_same_inode_and_filesystem(tmp_path: Path) -> None:
    from dataclasses import replace

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "replaced"):
        (src / name).write_bytes(b"content " + name.encode())
    w = FakeWriter()
    first, _ = walk(src, w)
    assert first._result is not None
    old = w.tree(first._result.tree)
    # "replaced": a new inode with the same size and mtime
    st = (src / "replaced").stat()
    (src / "replaced.new").write_bytes(b"CONTENT replaced")
    os.utime(src / "replaced.new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(src / "replaced.new", src / "replaced")
    far_future = time.time_ns() + 10**15  # ctime alone would let every file through

    def parent(nodes: list[Node], **kw: bool) -> ParentTrees:
        return ParentTrees(w.add(BlobType.TREE, encode_tree(nodes)), w.raw, far_future, **kw)

    def names(reads: list[bytes]) -> list[bytes]:
        return sorted(os.path.basename(r) for r in reads)

    _, reads = walk(src, w, parent(old))
    assert names(reads) == [b"replaced"]
    # the whole source renumbered (mounted afresh): still the same files
    renumbered = [replace(n, device=n.device + 1) for n in old]
    _, reads = walk(src, w, parent(renumbered))
    assert names(reads) == [b"replaced"]
    _, reads = walk(src, w, parent(renumbered, strict_device=True))
    assert names(reads) == [b"a", b"b", b"replaced"]
    # one file that was on another filesystem than its neighbours: read again
    mixed = [replace(n, device=n.device + 1) if n.name == b"b" else n for n in old]
    _, reads = walk(src, w, parent(mixed))
    assert names(reads) == [b"b", b"replaced"]


# -- hostile trees ---------------------------------------------------------------------------------


def hostile_snapshot(repo: Repository, build: Callable[[Callable[[bytes], bytes]], bytes]) -> Snapshot:
    """A snapshot whose trees are written as given (raw tree JSON), bypassing every writer-side check."""
    writer = repo.blob_writer()
    referenced: set[tuple[BlobType, bytes]] = set()

    def put(raw: bytes) -> bytes:
        bid = writer.add(BlobType.TREE, raw)
        referenced.add((BlobType.TREE, bid))
        return bid

    root = build(put)
    writer.close()
    snap = Snapshot(
        id="",
        time=datetime.now(UTC),
        host="h",
        tags=(),
        paths=("/hostile",),
        tree=root,
        root=RootMeta(0o755, os.getuid(), os.getgid(), 1),
        stats=SnapshotStats(),
    )
    return repo.commit_snapshot(snap, writer, referenced, time.monotonic())


def _entry(name: str, kind: str, **kw: object) -> dict[str, object]:
    e: dict[str, object] = {"name": name, "type": kind, "mode": 0o755, "uid": 0, "gid": 0, "mtime_ns": 1}
    if kind == "file":
        e |= {"size": 0, "content": []}
    return e | kw


def _tree(*entries: dict[str, object], version: int = 1) -> bytes:
    """A tree of the given entries (version 1 JSON objects), in that tree format version, unchecked."""
    v1 = json.dumps({"version": 1, "entries": list(entries)}, sort_keys=True).encode()
    return v1 if version == 1 else encode_tree(_v1_nodes(v1, "t", check_names=False))


def _dir(
    put: Callable[[bytes], bytes], name: str, *entries: dict[str, object], version: int = 1
) -> dict[str, object]:
    return _entry(name, "dir", subtree=put(_tree(*entries, version=version)).hex())


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_bytes() == b"keep me\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "victim.txt").write_bytes(b"keep me\n")
    return out


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name", ["..", ".", "", "a/../../x", "/abs", "x\x00y"])
def test_hostile_names_are_refused(tmp_path: Path, outside: Path, name: str, version: int) -> None:
    repo = new_repo(SafeStore())
    escape = os.path.relpath(outside / "victim.txt", tmp_path / "dst")
    link = _entry("victim.txt", "symlink", target=escape)
    snap = hostile_snapshot(
        repo, lambda put: put(_tree(_dir(put, name, link, version=version), version=version))
    )
    with pytest.raises(VerificationFailed, match="hostile entry name"):
        repo.restore_path(snap.id, tmp_path / "dst")
    _outside_untouched(outside)


def test_a_symlink_and_a_directory_of_the_same_name_are_refused(tmp_path: Path, outside: Path) -> None:
    repo = new_repo(SafeStore())
    snap = hostile_snapshot(
        repo,
        lambda put: put(
            _tree(
                _entry("a", "symlink", target=str(outside)),
                _dir(put, "a", _entry("victim.txt", "file")),
            )
        ),
    )
    with pytest.raises(VerificationFailed, match="not strictly sorted"):
        repo.restore_path(snap.id, tmp_path / "dst")
    _outside_untouched(outside)


def test_links_pointing_out_are_recreated_not_followed(tmp_path: Path, outside: Path) -> None:
    repo = new_repo(SafeStore())
    snap = hostile_snapshot(
        repo,
        lambda put: put(
            _tree(
                _entry("abs", "symlink", target=str(outside)),
                _entry("rel", "symlink", target="../outside/victim.txt"),
                _dir(put, "z", _entry("up", "symlink", target="../../outside")),
            )
        ),
    )
    dst = tmp_path / "dst"
    repo.restore_path(snap.id, dst)
    assert os.readlink(dst / "abs") == str(outside)
    assert os.readlink(dst / "rel") == "../outside/victim.txt"
    assert os.readlink(dst / "z" / "up") == "../../outside"
    _outside_untouched(outside)


def test_symlinks_already_in_the_target_are_never_followed(tmp_path: Path, outside: Path) -> None:
    repo = new_repo(SafeStore())
    data = b"restored content\n"
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "f").write_bytes(data)
    (src / "d" / "victim.txt").write_bytes(data)
    snap = repo.backup_path(src, host="h")
    outside.chmod(0o751)
    # a file entry over a symlink pointing out: the link is replaced, its target untouched
    dst = tmp_path / "dst1"
    dst.mkdir()
    (dst / "f").symlink_to(outside / "victim.txt")
    (dst / "d").mkdir()
    repo.restore_path(snap.id, dst)
    assert not (dst / "f").is_symlink()
    assert (dst / "f").read_bytes() == data
    _outside_untouched(outside)
    # a directory entry over a symlink pointing out: refused, nothing written through it
    dst = tmp_path / "dst2"
    dst.mkdir()
    (dst / "d").symlink_to(outside)
    with pytest.raises(VerificationFailed, match="not a directory"):
        repo.restore_path(snap.id, dst)
    _outside_untouched(outside)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o751


def test_restore_into_a_non_empty_directory_replaces_only_files_and_links(tmp_path: Path) -> None:
    repo = new_repo(SafeStore())
    src = tmp_path / "src"
    src.mkdir()
    for name in ("file", "link-was-file", "fifo", "dir"):
        (src / name).write_bytes(name.encode())
    snap = repo.backup_path(src, host="h")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "file").write_bytes(b"old")
    (dst / "link-was-file").symlink_to("nowhere")
    (dst / "keep-me").write_bytes(b"not in the snapshot")
    os.mkfifo(dst / "fifo")
    with pytest.raises(VerificationFailed, match="special file"):
        repo.restore_path(snap.id, dst)
    # the refused attempt left nothing behind: no file of it, no temporary file, the old file intact
    assert sorted(p.name for p in dst.iterdir()) == ["fifo", "file", "keep-me", "link-was-file"]
    assert (dst / "file").read_bytes() == b"old"
    os.unlink(dst / "fifo")
    (dst / "dir").mkdir()
    with pytest.raises(VerificationFailed, match="is a directory"):
        repo.restore_path(snap.id, dst)
    (dst / "dir").rmdir()
    repo.restore_path(snap.id, dst)
    for name in ("file", "link-was-file", "fifo", "dir"):
        assert (dst / name).read_bytes() == name.encode()
    assert (dst / "keep-me").read_bytes() == b"not in the snapshot"


def test_hard_link_groups_stay_inside_the_target(tmp_path: Path, outside: Path) -> None:
    """Two entries claiming one inode are linked to the first one restored, never to a path outside."""
    repo = new_repo(SafeStore())
    snap = hostile_snapshot(
        repo,
        lambda put: put(
            _tree(
                _entry("a", "file", inode=(outside / "victim.txt").stat().st_ino, device=1, links=2),
                _entry("b", "file", inode=(outside / "victim.txt").stat().st_ino, device=1, links=2),
            )
        ),
    )
    dst = tmp_path / "dst"
    repo.restore_path(snap.id, dst)
    assert (dst / "a").stat().st_ino == (dst / "b").stat().st_ino != (outside / "victim.txt").stat().st_ino
    _outside_untouched(outside)


def test_xattr_failures_are_warnings_not_silence(tmp_path: Path) -> None:
    from drkit.repo.engine.restore import TreeRestore
    from drkit.repo.format.packsource import PackSource

    repo = new_repo(SafeStore())
    bad = {"xattrs": {"bogus-namespace.x": "01"}}
    snap = hostile_snapshot(repo, lambda put: put(_tree(_entry("f", "file", **bad))))
    packs = PackSource(repo._read_keys(), repo._load_index().index, repo._reader)
    restorer = TreeRestore(packs, snap)
    stats = restorer.run(tmp_path / "dst")
    assert stats.files == 1
    assert (tmp_path / "dst" / "f").read_bytes() == b""
    if AS_ROOT:
        assert len(restorer.warnings) == 1
        assert "bogus-namespace.x" in restorer.warnings[0]
    else:
        assert restorer.warnings == [
            "1 extended attributes outside user.* not restored (not running as root)"
        ]


def test_a_directory_swapped_for_a_symlink_during_the_restore_is_not_written_through(
    tmp_path: Path, outside: Path
) -> None:
    """A process racing the restore replaces a restored directory by a link out, between the passes."""
    from drkit.repo.engine.restore import RestoreError, TreeRestore
    from drkit.repo.format.packsource import PackSource

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "victim.txt").write_bytes(b"restored data, must not land outside\n")
    repo = new_repo(SafeStore())
    snap = repo.backup_path(src, host="h")
    dst = tmp_path / "dst"

    class Racing(TreeRestore):
        def _write_data(self, plan: Any) -> int:
            (dst / "d").rename(dst / "d.moved")
            (dst / "d").symlink_to(outside)
            return super()._write_data(plan)

    packs = PackSource(repo._read_keys(), repo._load_index().index, repo._reader)
    with pytest.raises(RestoreError, match="no longer the entry this restore created"):
        Racing(packs, snap).run(dst)
    _outside_untouched(outside)
