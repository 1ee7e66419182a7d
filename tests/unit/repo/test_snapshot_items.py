"""Cluster snapshots: virtual files from bytes, streams and directories, on the in-memory fake store."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import ConfigError, EtcdError
from drkit.repo.engine.snapshotwriter import SnapshotWriter
from drkit.repo.engine.vtree import NoSuchPath
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.layout import DATA_PREFIX, SNAPSHOTS_PREFIX
from drkit.repo.format.model import KIND_CLUSTER, KIND_PATH
from drkit.repo.repository import Repository
from drkit.storage.local import LocalStore
from tests.unit.repo.fakestore import FakeStore
from tests.unit.repo.repohelpers import (
    CRED,
    SCRYPT_N,
    Clock,
    SafeStore,
    describe,
    make_tree,
    new_repo,
    open_repo,
)

MIB = 1024 * 1024
T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _objects(n: int) -> dict[str, bytes]:
    """API-object-like JSON documents at resources/<group>/<version>/<resource>/<ns>/<name>.json."""
    out: dict[str, bytes] = {}
    kinds = [("apps", "v1", "deployments"), ("core", "v1", "configmaps"), ("rbac", "v1", "roles")]
    for i in range(n):
        g, v, r = kinds[i % len(kinds)]
        ns = f"ns{i % 17}" if r != "roles" or i % 2 else "_cluster"
        doc = {
            "apiVersion": f"{g}/{v}",
            "metadata": {"name": f"obj-{i}", "namespace": ns},
            "data": "x" * (i % 50),
        }
        out[f"resources/{g}/{v}/{r}/{ns}/obj-{i}.json"] = json.dumps(doc, sort_keys=True).encode()
    return out


def _stream(data: bytes, piece: int = 65536, *, fail: bool = False) -> Iterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]
    if fail:
        raise EtcdError("etcd snapshot stream: SHA-256 mismatch")


def _data_packs(repo: Repository, pack_ids: set[str]) -> set[str]:
    index = repo._load_index().index
    return {p for p in pack_ids if any(e.type is BlobType.DATA for e in index.packs[p].entries)}


def _pack_ids(store: SafeStore) -> set[str]:
    return {k.rsplit("/", 1)[1] for k in store.keys(DATA_PREFIX)}


def test_thousands_of_objects_round_trip_and_an_identical_snapshot_stores_no_data(tmp_path: Path) -> None:
    objects = _objects(3000)
    store = SafeStore()
    repo = new_repo(store)
    with repo.new_snapshot(tags=("nightly",), host="c1") as snap:
        for path, data in objects.items():
            snap.add_bytes(path, data)
    first = snap.snapshot
    assert first is not None
    assert (first.kind, first.tags, first.host, first.paths) == (KIND_CLUSTER, ("nightly",), "c1", ())
    assert first.stats.files == 3000
    assert first.stats.bytes == sum(len(d) for d in objects.values())

    reader = open_repo(store).snapshot_reader(first.short_id)
    files = {e.path: e for e in reader.list("resources/") if e.type == "file"}
    assert set(files) == set(objects)
    assert all(files[p].size == len(objects[p]) and files[p].mode == 0o600 for p in objects)
    for path in list(objects)[::97]:
        assert reader.read_bytes(path) == objects[path]

    before = _pack_ids(store)
    repo2 = open_repo(store)
    with repo2.new_snapshot(tags=("nightly",), host="c1") as snap2:
        for path, data in objects.items():
            snap2.add_bytes(path, data)
    second = snap2.snapshot
    assert second is not None
    assert second.parent == first.id
    new = _pack_ids(store) - before
    assert _data_packs(repo2, new) == set(), "unchanged objects must not be stored again"
    assert second.stats.new_packs == len(new)  # only trees: their mtimes are this snapshot's time


def test_explicit_mtimes_make_the_whole_snapshot_deduplicate() -> None:
    objects = _objects(300)
    store = SafeStore()
    new_repo(store)
    ids = []
    for _ in range(2):
        with open_repo(store).new_snapshot(host="c1") as s:
            for path, data in objects.items():
                s.add_bytes(path, data, mtime=T)
        assert s.snapshot is not None
        ids.append(s.snapshot)
    assert ids[1].tree == ids[0].tree
    assert ids[1].stats.new_packs == 0
    assert ids[1].root == ids[0].root
    entry = open_repo(store).snapshot_reader("latest").entry("resources/apps")
    assert (entry.type, entry.mode, entry.mtime) == ("dir", 0o700, T)


def _random_stream(seed: int, size: int, piece: int) -> Iterator[bytes]:
    """``size`` random bytes, made as they are consumed (the test never holds the whole stream)."""
    rng = random.Random(seed)
    for i in range(0, size, piece):
        yield rng.randbytes(min(piece, size - i))


def _stream_repo(root: Path) -> Repository:
    # Chunks of 64 KiB..1 MiB (most above the inline limit: they go through the sealing pool).
    return Repository.init(
        LocalStore(root),
        CRED,
        lock_mode=None,
        retention=timedelta(0),
        chunker=ChunkerParams(min_size=64 * 1024, avg_size=256 * 1024, max_size=MIB, seed=99),
        pack_size=MIB,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
    )


def test_a_20_mib_stream_round_trips(tmp_path: Path) -> None:
    size = 20 * MIB
    expected = hashlib.sha256()
    for piece in _random_stream(7, size, MIB):
        expected.update(piece)
    with _stream_repo(tmp_path / "repo").new_snapshot() as snap:
        stored = snap.add_stream("etcd/snapshot.db", _random_stream(7, size, 100_000))
    assert stored == size
    assert snap.snapshot is not None
    assert snap.snapshot.stats.bytes == size
    reader = Repository.open(LocalStore(tmp_path / "repo"), CRED).snapshot_reader("latest")
    digest = hashlib.sha256()
    pieces = 0
    for piece in reader.stream("etcd/snapshot.db"):
        digest.update(piece)
        pieces += 1
    assert pieces > 20
    assert digest.digest() == expected.digest()
    assert reader.entry("etcd/snapshot.db").size == size
    assert hashlib.sha256(reader.read_bytes("etcd/snapshot.db")).digest() == expected.digest()


def test_a_stream_is_stored_with_bounded_memory(tmp_path: Path) -> None:
    size = 64 * MIB
    repo = _stream_repo(tmp_path / "repo")
    tracemalloc.start()
    try:
        with repo.new_snapshot() as snap:
            stored = snap.add_stream("big.db", _random_stream(5, size, MIB))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored == size
    # In flight: a piece from the source, up to 4 chunks being sealed (raw, compressed, sealed), a
    # pack being built, two queued, two being uploaded: about 15 MiB here, whatever the stream's length.
    assert peak < size // 2, f"peak traced memory {peak / MIB:.1f} MiB for a {size // MIB} MiB stream"


def test_a_stream_that_fails_at_its_end_commits_nothing_and_the_next_snapshot_reuses_packs() -> None:
    data = random.Random(8).randbytes(2 * MIB)
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.new_snapshot(meta={"etcd": {"revision": 1}})
    with pytest.raises(EtcdError, match="SHA-256"), snap:  # noqa: PT012 - the block is what is tested
        snap.add_bytes("resources/core/v1/configmaps/default/a.json", b"{}")
        snap.add_stream("etcd/snapshot.db", _stream(data, fail=True))
    assert snap.snapshot is None
    assert store.keys(SNAPSHOTS_PREFIX) == []
    assert open_repo(store).snapshots() == []
    left = _pack_ids(store)
    assert left, "packs uploaded before the failure stay in the store"

    repo2 = open_repo(store)
    with repo2.new_snapshot() as again:
        again.add_stream("etcd/snapshot.db", _stream(data))
    result = again.snapshot
    assert result is not None
    assert set(result.packs) & left, "the retry reuses the packs the failed attempt uploaded"
    assert result.stats.new_bytes < len(data) // 2
    assert open_repo(store).snapshot_reader("latest").read_bytes("etcd/snapshot.db") == data
    assert open_repo(store).verify(read_data_percent=100).ok


def test_a_failed_stream_poisons_the_writer_even_if_the_caller_swallows_it() -> None:
    store = SafeStore()
    repo = new_repo(store)
    snap = repo.new_snapshot()
    with pytest.raises(EtcdError):
        snap.add_stream("etcd/snapshot.db", _stream(b"x" * 5000, fail=True))
    snap.add_bytes("a.json", b"{}")
    with pytest.raises(EtcdError, match="SHA-256"):
        snap.commit()
    assert store.keys(SNAPSHOTS_PREFIX) == []
    with pytest.raises(ConfigError, match="aborted"):
        snap.add_bytes("b.json", b"{}")


def test_any_error_in_the_block_aborts_and_nothing_is_visible() -> None:
    store = SafeStore()
    repo = new_repo(store)
    with pytest.raises(RuntimeError, match="capture broke"), repo.new_snapshot() as snap:  # noqa: PT012
        snap.add_bytes("resources/x.json", b"{}")
        raise RuntimeError("capture broke")
    assert store.keys(SNAPSHOTS_PREFIX) == []
    assert repo.snapshots() == []


def test_meta_round_trips_and_both_kinds_are_listed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    repo = new_repo(store)
    path_snap = repo.backup_path(src, host="c1")
    meta = {
        "etcd": {"revision": 12345, "hash_kv": 987654321, "compact_revision": 100},
        "resources": {"objects": 2, "errors": []},
        "cluster": {"version": "v1.31.0", "name": "prod ü"},
    }
    with repo.new_snapshot(host="c1", meta={"placeholder": True}) as snap:
        snap.add_bytes("resources/core/v1/namespaces/_cluster/default.json", b"{}")
        snap.set_meta(meta)
    assert snap.snapshot is not None
    assert snap.snapshot.meta == meta

    again = open_repo(store)
    kinds = [(s.id, s.kind) for s in again.snapshots()]
    assert kinds == [(path_snap.id, KIND_PATH), (snap.snapshot.id, KIND_CLUSTER)]
    assert again.find_snapshot("latest").meta == meta
    assert again.snapshot_reader(snap.snapshot.id).meta == meta
    assert again.snapshot_reader(path_snap.id).meta == {}
    # a path backup's parent is a path snapshot, never a cluster one
    assert again.backup_path(src, host="c1").parent == path_snap.id


@pytest.mark.parametrize("bad", [float("nan"), {"k": object()}, "not a dict", {"x": b"bytes"}])
def test_meta_must_be_a_json_object(bad: object) -> None:
    snap = new_repo(SafeStore()).new_snapshot()
    with pytest.raises(ConfigError, match="meta"):
        snap.set_meta(bad if isinstance(bad, dict | str) else {"v": bad})  # type: ignore[arg-type]
    snap.abort()


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "a//b",
        "a/./b",
        ".",
        "a/",
        "a/b\x00c",
        "x" * 5000,
    ],
)
def test_hostile_paths_are_refused(path: str) -> None:
    store = SafeStore()
    snap = new_repo(store).new_snapshot()
    with pytest.raises(ConfigError, match="path"):
        snap.add_bytes(path, b"boom")
    with pytest.raises(ConfigError, match="path"):
        snap.add_stream(path, iter([b"boom"]))
    snap.commit()
    assert snap.snapshot is not None
    assert list(open_repo(store).snapshot_reader("latest").list()) == []


def test_a_path_can_be_added_once_and_only_under_directories(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"f")
    snap = new_repo(SafeStore()).new_snapshot()
    snap.add_bytes("a/b.json", b"1")
    with pytest.raises(ConfigError, match="already added"):
        snap.add_bytes("a/b.json", b"2")
    with pytest.raises(ConfigError, match="already added"):
        snap.add_bytes("a", b"a file where a directory is")
    with pytest.raises(ConfigError, match="not a directory"):
        snap.add_bytes("a/b.json/c", b"under a file")
    snap.add_directory("vol", tmp_path / "d")
    with pytest.raises(ConfigError, match="not a directory"):
        snap.add_bytes("vol/extra", b"into a backed-up directory")
    with pytest.raises(ConfigError, match="already added"):
        snap.add_directory("a", tmp_path / "d")
    with pytest.raises(ConfigError, match="not a directory"):
        snap.add_directory("missing", tmp_path / "nope")
    with pytest.raises(ConfigError, match="mode"):
        snap.add_bytes("m.json", b"{}", mode=0o100644)
    with pytest.raises(ConfigError, match="timezone"):
        snap.add_bytes("m.json", b"{}", mtime=datetime(2026, 1, 1))
    with pytest.raises(ConfigError, match="kind"):
        new_repo(SafeStore()).new_snapshot(kind="path")
    result = snap.commit()
    assert result.stats.files == 2


def test_directories_beside_virtual_files_restore_and_verify(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    store = SafeStore()
    later = Clock(datetime.now(UTC) + timedelta(hours=1))  # files' ctimes precede the parent's start
    repo = new_repo(store, clock=later)
    with repo.new_snapshot(host="c1") as snap:
        snap.add_bytes("resources/core/v1/pods/ns/p.json", b'{"kind":"Pod"}', mode=0o640)
        snap.add_directory("volumes/ns/data", src)
        snap.add_stream("etcd/snapshot.db", _stream(b"etcd" * 10_000))
    first = snap.snapshot
    assert first is not None
    assert first.stats.files == 2 + 10

    reader = open_repo(store).snapshot_reader(first.id)
    reader.restore_to("volumes/ns/data", tmp_path / "vol")
    assert describe(tmp_path / "vol") == describe(src)
    reader.restore_to("resources/core/v1/pods/ns/p.json", tmp_path / "one")
    assert (tmp_path / "one" / "p.json").read_bytes() == b'{"kind":"Pod"}'
    assert (tmp_path / "one" / "p.json").stat().st_mode & 0o777 == 0o640
    stats = open_repo(store).restore_path(first.id, tmp_path / "all")
    assert stats.files == 12
    assert (tmp_path / "all" / "etcd" / "snapshot.db").read_bytes() == b"etcd" * 10_000
    assert describe(tmp_path / "all" / "volumes" / "ns" / "data") == describe(src)
    link = reader.entry("volumes/ns/data/link")
    assert (link.type, link.target) == ("symlink", "sub/script.sh")
    assert [e.path for e in reader.list("volumes/ns/data/sub")] == [
        "volumes/ns/data/sub/deeper",
        "volumes/ns/data/sub/deeper/data.bin",
        "volumes/ns/data/sub/script.sh",
    ]
    assert [e.path for e in reader.list("etcd/snapshot.db")] == ["etcd/snapshot.db"]
    assert list(reader.list("nothing/here")) == []
    assert reader.exists("etcd")
    assert not reader.exists("etcd/nope")
    with pytest.raises(NoSuchPath):
        reader.read_bytes("etcd/nope")
    with pytest.raises(NoSuchPath, match="not a file"):
        reader.read_bytes("etcd")
    with pytest.raises(NoSuchPath):
        reader.restore_to("volumes/none", tmp_path / "x")

    report = open_repo(store).verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.snapshots_checked == 1

    later.now += timedelta(hours=1)
    with open_repo(store, clock=later).new_snapshot(host="c1") as snap2:
        snap2.add_directory("volumes/ns/data", src)
    assert snap2.snapshot is not None
    assert snap2.snapshot.parent == first.id
    assert snap2.snapshot.stats.reused_files == 10, "files unchanged since the parent are not read again"


def test_prune_keeps_the_packs_of_cluster_snapshots(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    clock = Clock(T)
    store = SafeStore(FakeStore(clock=clock))
    repo = new_repo(store, lock_mode=None, retention=timedelta(0), clock=clock)
    path_snap = repo.backup_path(src, host="h")
    objects = _objects(200)
    with repo.new_snapshot(host="h") as snap:
        for path, data in objects.items():
            snap.add_bytes(path, data)
        snap.add_stream("etcd/snapshot.db", _stream(random.Random(3).randbytes(300_000)))
    cluster = snap.snapshot
    assert cluster is not None
    clock.now = T + timedelta(hours=2)  # prune leaves packs younger than an hour alone
    result = repo.prune(keep=[cluster.id])
    assert result.deleted_snapshots == (path_snap.id,)
    assert result.deleted_packs, "the path snapshot's own packs go"
    assert set(cluster.packs) <= _pack_ids(store)
    after = open_repo(store)
    assert after.verify(read_data_percent=100).ok
    reader = after.snapshot_reader(cluster.id)
    assert all(reader.read_bytes(p) == d for p, d in list(objects.items())[::20])


def test_add_bytes_from_several_threads() -> None:
    objects = _objects(800)
    store = SafeStore()
    snap = new_repo(store).new_snapshot()
    items = list(objects.items())
    errors: list[BaseException] = []

    def work(part: list[tuple[str, bytes]]) -> None:
        try:
            for p, d in part:
                snap.add_bytes(p, d)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(items[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = snap.commit()
    assert result.stats.files == 800
    reader = open_repo(store).snapshot_reader(result.id)
    assert {e.path for e in reader.list() if e.type == "file"} == set(objects)


def test_a_write_only_writer_makes_cluster_snapshots_the_master_key_reads(tmp_path: Path) -> None:
    store = SafeStore()
    new_repo(store)
    writer = Repository.open_writer(store, CRED, settings=WriterSettings(workers=2, index_every=1))
    with writer.new_snapshot(meta={"etcd": {"revision": 7}}) as snap:
        snap.add_bytes("resources/a.json", b'{"a":1}')
        snap.add_stream("etcd/snapshot.db", _stream(b"db" * 50_000))
    assert snap.snapshot is not None
    reader = open_repo(store).snapshot_reader("latest")
    assert reader.meta == {"etcd": {"revision": 7}}
    assert reader.read_bytes("etcd/snapshot.db") == b"db" * 50_000
    with pytest.raises(ConfigError, match="write-only"):
        writer.snapshot_reader("latest")


def test_writer_is_single_use() -> None:
    snap: SnapshotWriter = new_repo(SafeStore()).new_snapshot()
    snap.add_bytes("a", b"a")
    first = snap.commit()
    assert snap.commit() is first
    with pytest.raises(ConfigError, match="committed"):
        snap.add_bytes("b", b"b")


def test_latest_is_the_newest_backup_never_a_drill_record() -> None:
    repo = new_repo(SafeStore())
    with repo.new_snapshot(kind="cluster") as backup:
        backup.add_bytes("resources/core/v1/configmaps/ns/a.json", b"{}")
    with repo.new_snapshot(kind="drill") as drill:
        drill.add_bytes("drill/report.json", b"{}")
    assert repo.find_snapshot("latest").id == backup.snapshot.id  # type: ignore[union-attr]
    assert repo.find_snapshot(drill.snapshot.id).kind == "drill"  # type: ignore[union-attr]
