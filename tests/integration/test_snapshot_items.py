"""Cluster snapshots (virtual files) on real stores: a local directory, MinIO and SeaweedFS (Object Lock).

One snapshot holds API objects (one blob each), an etcd-like stream, a volume directory and a meta
document; it reads back byte for byte, verifies with every pack read, and a second identical capture
uploads no data. A stream that fails its check at the end leaves no snapshot, and the retry reuses
the packs the failed attempt uploaded.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.errors import EtcdError
from drkit.repo.format.blobs import BlobType
from drkit.repo.format.blobwriter import WriterSettings
from drkit.repo.format.layout import DATA_PREFIX, SNAPSHOTS_PREFIX, pack_key
from drkit.repo.format.model import KIND_CLUSTER, Snapshot
from drkit.repo.format.splittree import SPLIT_ABOVE
from drkit.repo.repository import Repository
from drkit.sandbox.s3server import S3Credentials, S3Server
from drkit.storage.base import LockMode, Store
from drkit.storage.local import LocalStore
from drkit.storage.options import S3Options
from drkit.storage.url import open_store
from tests.unit.repo.repohelpers import CRED, SCRYPT_N, SMALL_CHUNKS, describe, make_tree

PREFIX = "backups/cluster-items"
MIB = 1024 * 1024
T = datetime(2026, 3, 1, tzinfo=UTC)


def _init(store: Store, mode: LockMode | None = LockMode.COMPLIANCE) -> Repository:
    return Repository.init(
        store,
        CRED,
        lock_mode=mode,
        retention=timedelta(days=1),
        chunker=SMALL_CHUNKS,
        pack_size=256 * 1024,
        scrypt_n=SCRYPT_N,
        settings=WriterSettings(workers=2, index_every=2),
    )


def _s3_store(s3: S3Server, creds: S3Credentials) -> Store:
    options = S3Options(
        access_key=creds.access_key, secret_key=creds.secret_key, session_token=creds.session_token
    )
    url = f"s3://{s3.bucket}/{PREFIX}?endpoint={s3.endpoint}&region={s3.region}&path_style=true"
    return open_store(url, options)


def _objects(n: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i in range(n):
        ns = f"ns{i % 5}"
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": ns}}
        out[f"resources/core/v1/configmaps/{ns}/cm-{i}.json"] = json.dumps(doc).encode()
    return out


def _stream(seed: int, size: int, *, fail: bool = False) -> Iterator[bytes]:
    rng = random.Random(seed)
    for i in range(0, size, 256 * 1024):
        yield rng.randbytes(min(256 * 1024, size - i))
    if fail:
        raise EtcdError("snapshot stream: SHA-256 mismatch")


def _sha(chunks: Iterator[bytes]) -> bytes:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.digest()


def _capture(repo: Repository, objects: dict[str, bytes], volume: Path, *, fail: bool = False) -> Snapshot:
    with repo.new_snapshot(tags=("nightly",), host="cluster-a") as snap:
        snap.add_stream("etcd/snapshot.db", _stream(1, 3 * MIB, fail=fail))
        for path, data in objects.items():
            snap.add_bytes(path, data, mtime=T)
        snap.add_directory("volumes/default/data", volume)
        snap.set_meta({"etcd": {"revision": 42, "hash_kv": 7}, "resources": {"objects": len(objects)}})
    assert snap.snapshot is not None
    return snap.snapshot


def _data_packs(repo: Repository, keys: set[str]) -> set[str]:
    index = repo._load_index().index
    ids = {k.rsplit("/", 1)[1] for k in keys}
    return {p for p in ids if any(e.type is BlobType.DATA for e in index.packs[p].entries)}


def _round_trip(store: Store, tmp_path: Path, mode: LockMode | None = LockMode.COMPLIANCE) -> Repository:
    volume = tmp_path / "volume"
    make_tree(volume)
    objects = _objects(500)
    repo = _init(store, mode)

    # a capture whose etcd stream fails its check at the end: no snapshot
    with pytest.raises(EtcdError):
        _capture(repo, objects, volume, fail=True)
    assert list(store.list(SNAPSHOTS_PREFIX)) == []
    failed_packs = {o.key for o in store.list(DATA_PREFIX)}
    assert failed_packs

    first = _capture(Repository.open(store, CRED), objects, volume)
    assert first.kind == KIND_CLUSTER
    assert {pack_key(p) for p in first.packs} & failed_packs, "the retry reuses the failed attempt's packs"
    assert first.stats.files == 1 + len(objects) + 10

    before = {o.key for o in store.list(DATA_PREFIX)}
    repo = Repository.open(store, CRED)
    second = _capture(repo, objects, volume)
    added = {o.key for o in store.list(DATA_PREFIX)} - before
    assert _data_packs(repo, added) == set(), "an identical capture uploads no data"
    assert second.parent == first.id

    reader = Repository.open(store, CRED).snapshot_reader("latest")
    assert reader.meta == {"etcd": {"revision": 42, "hash_kv": 7}, "resources": {"objects": 500}}
    assert _sha(reader.stream("etcd/snapshot.db")) == _sha(_stream(1, 3 * MIB))
    files = {e.path for e in reader.list("resources") if e.type == "file"}
    assert files == set(objects)
    for path in list(objects)[::50]:
        assert reader.read_bytes(path) == objects[path]
    reader.restore_to("volumes/default/data", tmp_path / "restored-volume")
    assert describe(tmp_path / "restored-volume") == describe(volume)

    report = repo.verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.snapshots_checked == 2
    return repo


def test_local_store_cluster_snapshot_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    repo = _round_trip(store, tmp_path, mode=None)
    snaps = repo.snapshots()
    result = repo.prune(keep=[snaps[-1].id])
    assert result.deleted_snapshots == (snaps[0].id,)
    assert set(snaps[-1].packs) <= {o.key.rsplit("/", 1)[1] for o in store.list(DATA_PREFIX)}
    assert Repository.open(store, CRED).verify(read_data_percent=100).ok


def test_s3_writer_cluster_snapshot_round_trip(s3: S3Server, tmp_path: Path) -> None:
    store = _s3_store(s3, s3.writer)
    repo = _round_trip(store, tmp_path)
    snaps = repo.snapshots()
    for pack_id, ref in snaps[-1].packs.items():
        info = store.head(pack_key(pack_id), version_id=ref.version_id)
        assert info.retention is not None
        assert info.retention.mode is LockMode.COMPLIANCE
    result = repo.prune(keep=[snaps[-1].id])
    assert result.deleted_packs == ()
    assert (
        Repository.open(store, CRED)
        .snapshot_reader(snaps[0].id)
        .read_bytes("resources/core/v1/configmaps/ns0/cm-0.json")
        == json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-0", "namespace": "ns0"}}
        ).encode()
    )


def test_s3_writer_split_namespace_restores_and_verifies(s3: S3Server, tmp_path: Path) -> None:
    # one namespace of more objects than a tree holds unsplit (docs/format.md, "Split trees"): written
    # in parts as it arrives, it restores whole and verifies
    store = _s3_store(s3, s3.writer)
    prefix = "resources/core/v1/configmaps/big"
    objects = {f"{prefix}/cm-{i:05d}.json": f'{{"i":{i}}}'.encode() for i in range(SPLIT_ABOVE + 1_500)}
    repo = _init(store)
    with repo.new_snapshot(kind=KIND_CLUSTER, host="c1", tags=("split",)) as snap:
        for path, data in objects.items():
            snap.add_bytes(path, data, mtime=T)
    assert snap.snapshot is not None
    reader_repo = Repository.open(_s3_store(s3, s3.admin), CRED)
    reader = reader_repo.snapshot_reader(snap.snapshot.id)
    assert [e.path for e in reader.list(prefix)] == list(objects)
    reader.restore_to(prefix, tmp_path / "big")
    assert {f"{prefix}/{p.name}": p.read_bytes() for p in (tmp_path / "big").iterdir()} == objects
    report = reader_repo.verify(read_data_percent=100)
    assert report.ok, report.problems
    assert report.trees_checked >= 7  # resources..big, the list of parts and at least two parts
