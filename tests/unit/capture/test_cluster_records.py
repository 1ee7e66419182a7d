"""capture/resources.json is written in pieces from compact records: the same bytes as the whole
document dumped at once (what earlier versions stored), without holding that document in memory."""

from __future__ import annotations

import json

import pytest

from drkit.capture import cluster
from drkit.capture.cluster import RECORD_KEYS, Record, encode_records


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
