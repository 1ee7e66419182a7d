"""`drkit snapshot show`: a describe page (table) and the same page as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.localrepo import drkit, make_repo


def test_show_is_a_describe_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    run = drkit(capsys, "snapshot", "show", local.cluster.short_id)
    assert run.code == 0, run.err
    text = run.out
    assert "{'" not in text  # no Python dict repr
    assert f"Snapshot {local.cluster.id}" in text
    assert "Kind:     cluster" in text
    assert "Schedule: nightly" in text
    assert "drkit:    1.2.3" in text
    assert "Host:     node-1" in text
    assert "Revision: 4711" in text
    assert "HashKV:   3735928559 at revision 4711 (compacted at 4000)" in text
    assert "Resources: 5 objects from https://10.0.0.1:6443 (context prod)" in text
    assert "  configmaps              3" in text
    assert "  FAILED secrets in namespace shop: forbidden" in text
    assert "Volumes (mover job):" in text
    assert "  shop/data: 12 files, 4.0 KiB (job)" in text
    assert "  shop/logs: FAILED (job): no node" in text
    assert "  shop/tmp: skipped: not Bound (phase Pending)" in text
    assert "Lock:     none, retained until -" in text
    # the drill in the repository restored this snapshot
    assert f"passed (plan shop, record {local.drill.short_id})" in text
    assert "never: no `drkit verify` since it was written" in text


def test_show_json_and_verification_from_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = make_repo(tmp_path, monkeypatch)
    assert drkit(capsys, "verify").code == 0  # audited: snapshot show reads it
    run = drkit(capsys, "snapshot", "show", local.cluster.id[:10], "-o", "json")
    assert run.code == 0, run.err
    page = json.loads(run.out)
    assert page["id"] == local.cluster.id
    assert page["etcd"]["hash_kv"] == 3735928559
    assert page["resources"]["counts"] == {
        "configmaps": 3,
        "deployments.apps": 1,
        "persistentvolumeclaims": 1,
    }
    assert [v["claim"] for v in page["volumes"]["volumes"]] == ["shop/data", "shop/logs"]
    assert page["written_by"] == {"host": "node-1", "schedule": "nightly", "version": "1.2.3"}
    assert page["verification"]["status"] == "ok"
    assert page["drills"][0]["ok"] is True
    # a path snapshot: no cluster sections, parent and paths shown
    plain = drkit(capsys, "snapshot", "show", local.path_snap.id)
    assert "etcd:" not in plain.out
    assert "Paths:" in plain.out
    assert "none has restored this snapshot" in plain.out


def test_a_failed_verify_that_does_not_name_its_snapshots_leaves_the_status_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from drkit.repo.format import audit

    local = make_repo(tmp_path, monkeypatch)
    # e.g. the daemon's verify: it counts problems, it does not list the snapshots they affect
    audit.append(
        local.repo, audit.AuditRecord.now("verify", "daemon verify", "failed", detail={"problems": 2})
    )
    page = json.loads(drkit(capsys, "snapshot", "show", local.cluster.id, "-o", "json").out)
    assert page["verification"]["status"] == "unknown"
    audit.append(
        local.repo,
        audit.AuditRecord.now("verify", "verify", "failed", detail={"problems": 1, "affected": ["0123abcd"]}),
    )
    page = json.loads(drkit(capsys, "snapshot", "show", local.cluster.id, "-o", "json").out)
    assert page["verification"]["status"] == "ok"  # the damage is in another snapshot


def test_an_inexact_etcd_revision_is_shown_as_its_bracket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.cli.localrepo import CLUSTER_META

    local = make_repo(tmp_path, monkeypatch)
    # etcd was written during the stream: drkit keeps the bracket, not a revision (drkit.etcd.snapshot)
    etcd = {**CLUSTER_META["etcd"], "revision": None, "revision_min": 4711, "revision_max": 4720}
    with local.repo.new_snapshot(tags=("busy",), meta={**CLUSTER_META, "etcd": etcd}) as snap:
        snap.add_bytes("resources/core/v1/configmaps/shop/a.json", b"{}")
    assert snap.snapshot is not None
    run = drkit(capsys, "snapshot", "show", snap.snapshot.id)
    assert run.code == 0, run.err
    assert (
        "  Revision: between 4711 and 4720 (written to during the snapshot; restore reads it from the file)"
        in run.out
    )
    page = json.loads(drkit(capsys, "snapshot", "show", snap.snapshot.id, "-o", "json").out)
    assert (page["etcd"]["revision"], page["etcd"]["revision_min"], page["etcd"]["revision_max"]) == (
        None,
        4711,
        4720,
    )
