"""Claims over Released PersistentVolumes: found in the plan, failed at once with the real cause and the
fix, and claim waits that share one deadline. The re-bind itself runs against the real API server
(tests/integration/test_restore_volumes.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, cast

import pytest

from drkit.errors import KubernetesError
from drkit.repo.repository import Repository
from drkit.restore.fills import fill_volumes, plan_fills
from drkit.restore.localfill import LocalFiller, why_unbound
from drkit.restore.model import ObjectRef
from drkit.restore.released import REBIND_OPTION, find_released
from drkit.restore.volumes import apply_with_volumes
from tests.unit.kube.fakeapi import FakeApi
from tests.unit.restore.test_volume_fills import (
    SNAP,
    claim_action,
    fake_api,
    record,
    restore_plan,
    workload_action,
    writes,
)
from tests.unit.restore.test_volume_fills import RecordingFiller as Recording


def claim_with_volume(ns: str, name: str, pv: str) -> Any:
    action = claim_action(ns, name)
    doc = json.loads(action.body)
    doc["spec"] = {"volumeName": pv, "accessModes": ["ReadWriteOnce"]}
    return replace(action, body=json.dumps(doc).encode())


def pv(api: FakeApi, name: str, phase: str, claim_ref: dict[str, str] | None) -> None:
    spec: dict[str, Any] = {"hostPath": {"path": f"/srv/{name}"}, "persistentVolumeReclaimPolicy": "Retain"}
    if claim_ref is not None:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", **claim_ref}
    api.add(
        f"/api/v1/persistentvolumes/{name}",
        {"metadata": {"name": name}, "spec": spec, "status": {"phase": phase}},
    )


def test_a_claim_over_a_released_pv_is_found_and_fails_at_once_naming_the_fix() -> None:
    api = fake_api("shop")
    pv(
        api,
        "pv-data",
        "Released",
        {"namespace": "shop", "name": "data", "uid": "old-uid", "resourceVersion": "7"},
    )
    pv(api, "pv-logs", "Available", None)  # nothing stale: binds normally
    pv(api, "pv-other", "Released", {"namespace": "shop", "name": "someone-else", "uid": "u2"})  # not ours
    data = claim_with_volume("shop", "data", "pv-data")
    logs = claim_with_volume("shop", "logs", "pv-logs")
    cache = claim_with_volume("shop", "cache", "pv-other")
    db = workload_action(ObjectRef("apps", "v1", "statefulsets", "StatefulSet", "shop", "db"), ["data"])
    plan = restore_plan(data, logs, cache, db)
    (found,) = find_released(api, plan)
    assert (found.key, found.pv, found.stale_uid, found.resource_version) == (
        "shop/data",
        "pv-data",
        "old-uid",
        "7",
    )
    assert "is Released and its claimRef still names the deleted claim (uid old-uid)" in found.cause()

    fills = plan_fills({"volumes": [record("shop", "data"), record("shop", "logs")]}, plan, SNAP)
    filler = Recording(api)
    report, filled = apply_with_volumes(api, plan, fills, filler, unbindable={found.key: found.cause()})
    by_claim = {r.fill.key: r for r in filled}
    assert not by_claim["shop/data"].ok
    assert REBIND_OPTION in by_claim["shop/data"].message
    assert by_claim["shop/logs"].ok
    assert [key for key, _ in filler.seen] == ["shop/logs"]  # the stuck claim was not waited for
    assert [r.action.ref.name for r in report.failed] == ["db"]  # held back: its claim has no data
    assert db.ref.api_path() not in writes(api)


def test_why_a_claim_is_not_bound_names_the_released_pv() -> None:
    api = fake_api("shop")
    pv(api, "pv-data", "Released", {"namespace": "shop", "name": "data", "uid": "old-uid"})
    claim = {
        "metadata": {"namespace": "shop", "name": "data", "uid": "new-uid"},
        "spec": {"volumeName": "pv-data"},
    }
    cause, hint = why_unbound(api, claim)
    assert "pv-data is Released and its claimRef still holds the uid of the deleted claim shop/data" in cause
    assert REBIND_OPTION in hint
    pv(api, "pv-data", "Bound", {"namespace": "shop", "name": "other", "uid": "x"})
    assert "is claimed by shop/other" in why_unbound(api, claim)[0]
    missing = {"metadata": {"namespace": "shop", "name": "data"}, "spec": {"volumeName": "gone"}}
    assert "does not exist in the target" in why_unbound(api, missing)[0]
    pending = {"metadata": {"namespace": "shop", "name": "data"}, "spec": {}}
    assert "no PersistentVolume was provisioned" in why_unbound(api, pending)[0]


@dataclass
class FakeTime:
    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_claims_wait_together_under_one_deadline() -> None:
    clock = FakeTime()
    api = fake_api("shop")
    names = ["a", "b", "c"]
    for name in names:  # Pending for ever: their PV is Released with the old claim's uid
        api.add(
            f"/api/v1/namespaces/shop/persistentvolumeclaims/{name}",
            {
                "metadata": {"namespace": "shop", "name": name, "uid": "new"},
                "spec": {"volumeName": f"pv-{name}"},
            },
        )
        pv(api, f"pv-{name}", "Released", {"namespace": "shop", "name": name, "uid": "old"})
    plan = restore_plan(*(claim_with_volume("shop", n, f"pv-{n}") for n in names))
    fills = plan_fills({"volumes": [record("shop", n) for n in names]}, plan, SNAP)
    filler = LocalFiller(
        cast(Repository, None),
        api,
        [],
        node_name="n1",
        bind_timeout_s=120,
        poll_s=1,
        clock=clock.monotonic,
        sleep=clock.sleep,
    )
    results = fill_volumes(fills.fills, filler)
    assert clock.now == pytest.approx(120, abs=1.5)  # one deadline for the three, not 3 x 120 s
    assert [r.ok for r in results] == [False, False, False]
    assert all("not Bound after 120s (its PersistentVolume pv-" in r.message for r in results)
    assert all(REBIND_OPTION in r.message for r in results)
    with pytest.raises(KubernetesError):
        filler.target_dir(fills.fills[0])  # past the shared deadline: no new wait
    assert clock.now == pytest.approx(120, abs=1.5)


def test_an_identity_that_may_not_read_pvs_gets_no_false_alarm() -> None:
    api = fake_api("shop")
    api.failures["/api/v1/persistentvolumes/pv-data"] = [403, 403]  # forbidden, as for a namespaced restorer
    plan = restore_plan(claim_with_volume("shop", "data", "pv-data"))
    assert find_released(api, plan) == []
    claim = {"metadata": {"namespace": "shop", "name": "data"}, "spec": {"volumeName": "pv-data"}}
    assert why_unbound(api, claim)[0] == "its PersistentVolume pv-data cannot be read (403)"
