"""capture/resources.json is written in pieces from compact records: the same bytes as the whole
document dumped at once (what earlier versions stored), without holding that document in memory."""

from __future__ import annotations

import json

import pytest

from drkit.capture import cluster
from drkit.capture.cluster import encode_records
from drkit.capture.resources import CapturedObject, object_path
from drkit.capture.resourcesjson import RECORD_KEYS, Record, RecordSpool
from tests.unit.repo.repohelpers import SafeStore, new_repo


def records(n: int) -> list[Record]:
    out = []
    for i in range(n):
        ns = f"ns-{i % 7}"
        name = f"cm-{(i * 7919) % n:05d}"  # not in path order
        path = f"resources/core/v1/configmaps/{ns}/{name}.json"
        out.append((path, "", "v1", "configmaps", "ConfigMap", ns, name, str(1000 + i), "999"))
    out.append(("resources/apps.k8s/v1/x/_cluster/a.json", "apps.k8s", "v1", "x", "X", "", "a", "5", "5"))
    out.append(
        (
            "resources/apps/v1/deployments/ns/ü.json",
            "apps",
            "v1",
            "deployments",
            "Deployment",
            "ns",
            "ü",
            "6",
            "6",
        )
    )
    return out


def whole(recs: list[Record]) -> bytes:
    dicts = sorted((dict(zip(RECORD_KEYS, r, strict=True)) for r in recs), key=lambda d: d["path"])
    return json.dumps(dicts, separators=(",", ":")).encode()


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_pieces_join_to_the_whole_document(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(cluster, "RECORDS_PIECE", 4096)
    recs = records(count)
    expected = whole(recs)
    pieces = list(encode_records(list(recs)))
    assert b"".join(pieces) == expected
    assert json.loads(b"".join(pieces))[0]["path"] == "resources/apps.k8s/v1/x/_cluster/a.json"  # "." < "/"
    if count == 3000:
        assert len(pieces) > 20  # really in pieces
        assert max(len(p) for p in pieces) < 4096 + 400  # each about RECORDS_PIECE


def test_no_records_is_an_empty_list() -> None:
    assert b"".join(encode_records([])) == b"[]"


@pytest.mark.parametrize(
    ("count", "run", "max_runs"),
    [(0, 5, 32), (4, 5, 32), (3000, 7, 32), (3000, 7, 2), (3000, 100, 3), (3000, 100_000, 32)],
)
def test_the_spool_writes_the_same_document_from_sorted_runs(count: int, run: int, max_runs: int) -> None:
    # max_runs: runs merged into one longer run as they accumulate (the final merge stays bounded)
    recs = records(count)
    spool = RecordSpool(run=run, max_runs=max_runs)
    for r in recs:
        spool.add(r)
    assert spool.count == len(recs)
    spilled = spool._file is not None
    assert spilled == (len(recs) >= run)  # more than a run in memory went to the temporary file
    assert len(spool._runs) < max_runs
    pieces = list(spool.pieces(piece_size=4096))
    assert b"".join(pieces) == whole(recs)
    assert spool._file is None  # closed (and so deleted) once read


def _object(kind: str, ns: str, name: str) -> CapturedObject:
    raw = json.dumps({"kind": kind, "metadata": {"name": name, "namespace": ns}}).encode()
    return CapturedObject("", "v1", kind.lower() + "s", kind, ns, name, "7", raw, "9")


def test_objects_are_stored_with_directories_sealed_even_when_a_list_comes_back_to_a_namespace() -> None:
    objects = [
        *(_object("ConfigMap", ns, f"c{i}") for ns in ("a", "b") for i in range(30)),
        _object("ConfigMap", "a", "late"),  # a list not in key order: its directory is reopened
        *(_object("Secret", ns, f"s{i}") for ns in ("a", "c") for i in range(5)),
    ]
    snap = new_repo(SafeStore()).new_snapshot()
    spool = RecordSpool(run=16)
    sealed: list[tuple[str, bool]] = []
    real_seal = snap.seal

    def seal(path: str, *, final: bool = False) -> bool:
        sealed.append((path, final))
        return real_seal(path, final=final)

    snap.seal = seal  # type: ignore[method-assign]
    cluster._store_objects(snap, objects, spool)
    snap.add_stream(cluster.OBJECTS_PATH, spool.pieces())
    result = snap.commit()
    assert result.stats.files == len(objects) + 1
    assert sealed == [
        ("resources/core/v1/configmaps/a", False),
        ("resources/core/v1/configmaps/b", False),
        ("resources/core/v1/configmaps/a", False),
        ("resources/core/v1/configmaps", True),
        ("resources/core/v1/secrets/a", False),
        ("resources/core/v1/secrets", True),
    ]
    reader = snap._target.snapshot_reader(result.short_id)  # type: ignore[attr-defined]
    for obj in objects:
        assert reader.read_bytes(object_path(obj)) == obj.raw
    doc = json.loads(reader.read_bytes(cluster.OBJECTS_PATH))
    assert [d["path"] for d in doc] == sorted(object_path(o) for o in objects)
