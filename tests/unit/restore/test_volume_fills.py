"""Volume data in `drkit restore run` (drkit/restore/fills.py, localfill.py, jobfill.py, volumes.py):
which claims are filled (plan_fills), when (after everything but the workloads, only claims just
created, one failure does not stop the rest), local mode into a real repository, job mode over a fake
MoverCluster, the Secret check, the options of the plan and the command line, and the dry-run output
of the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from drkit.capture.cluster import OBJECTS_PATH, STABLE_MTIME, _object_record
from drkit.capture.localpaths import PathRule
from drkit.capture.movers import MoverSettings, result_text
from drkit.capture.resources import object_path
from drkit.config.restoreplan import load_restore_plan
from drkit.errors import ConfigError, ExitCode, KubernetesError, StorageError
from drkit.kube.client import KubeClient
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import PARENT_MARGIN_NS, Repository
from drkit.restore.fills import FillPlan, FillResult, VolumeFill, fill_volumes, plan_fills, summary
from drkit.restore.jobfill import JobFiller
from drkit.restore.localfill import LocalFiller
from drkit.restore.model import (
    PHASE_CONFIGMAPS,
    PHASE_NAMESPACES,
    PHASE_SECRETS,
    PHASE_VOLUMES,
    PHASE_WORKLOADS,
    Action,
    ObjectRef,
    RestorePlan,
    Verb,
)
from drkit.restore.volumes import apply_with_volumes, fill_options, make_filler
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from tests.unit.kube.fakeapi import FakeApi
from tests.unit.restore.helpers import obj
from tests.unit.restore.test_cli_plan import drkit

SNAP = "c1a55e7a" * 8  # the cluster snapshot's id in pure tests
VOLUME_SNAP = "f00dcafe" * 8

# -- building plans and records ------------------------------------------------------------------


def claim_ref(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", namespace, name)


def claim_action(
    source_ns: str, name: str, verb: Verb = Verb.CREATE, *, target_ns: str | None = None
) -> Action:
    ref = claim_ref(target_ns or source_ns, name)
    doc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ref.namespace},
    }
    body = b"" if verb is Verb.SKIP else json.dumps(doc).encode()
    path = f"resources/core/v1/persistentvolumeclaims/{source_ns}/{name}.json"
    return Action(ref, verb, f"{verb} (test)", body, PHASE_VOLUMES, path)


def plain_action(ref: ObjectRef, phase: int, verb: Verb = Verb.CREATE) -> Action:
    meta: dict[str, Any] = {"name": ref.name}
    if ref.namespace:
        meta["namespace"] = ref.namespace
    doc = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta}
    return Action(ref, verb, "test", json.dumps(doc).encode(), phase, f"resources/x/{ref.name}.json")


def secret_ref(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("", "v1", "secrets", "Secret", namespace, name)


def deploy_ref(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("apps", "v1", "deployments", "Deployment", namespace, name)


def record(
    namespace: str, pvc: str, *, status: str = "ok", mode: str = "local", **extra: Any
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "namespace": namespace,
        "pvc": pvc,
        "pv": f"pv-{pvc}",
        "accessModes": ["ReadWriteOnce"],
        "storageClass": "local-path",
        "capacity": "1Gi",
        "volumeMode": "Filesystem",
        "mode": mode,
        "status": status,
        "error": "",
        "files": 3,
        "bytes": 42,
    }
    if mode == "local":
        rec["path"] = f"volumes/{namespace}/{pvc}" if status == "ok" else None
    return rec | extra


def restore_plan(*actions: Action) -> RestorePlan:
    return RestorePlan(SNAP, "fake", actions, ())


# -- plan_fills ----------------------------------------------------------------------------------


def test_plan_fills_fills_only_claims_created_with_data_and_says_why_for_the_others() -> None:
    plan = restore_plan(
        claim_action("shop", "data"),  # created, local data in the cluster snapshot
        claim_action("shop", "kept", Verb.SKIP),  # exists in the target
        claim_action("shop", "updated", Verb.UPDATE),
        claim_action("shop", "broken"),  # its capture failed
        claim_action("shop", "plain"),  # no record at all
        claim_action("shop", "logs"),  # job mode: data in its own volume snapshot
        claim_action("shop", "nosnap"),  # job mode without a snapshot id
        claim_action("web", "cache", target_ns="web-dr"),  # namespace mapping
        plain_action(secret_ref("shop", "db"), PHASE_SECRETS),
    )
    meta = {
        "volumes": [
            record("shop", "data"),
            record("shop", "kept"),
            record("shop", "updated"),
            record("shop", "broken", status="failed", error="no --volume-path-map rule matches"),
            record("shop", "logs", mode="job", snapshot=VOLUME_SNAP, job="drkit-backup-logs-1"),
            record("shop", "nosnap", mode="job", snapshot=""),
            record("web", "cache"),
            record("shop", "orphan"),  # its claim is not in the plan
            record("shop", "another-orphan"),
            {"namespace": "shop"},  # malformed: ignored
            "not a record",
        ]
    }
    fills = plan_fills(meta, plan, SNAP)

    assert [(f.source, f.key, f.snapshot_id, f.path) for f in fills.fills] == [
        ("shop/data", "shop/data", SNAP, "volumes/shop/data"),
        ("shop/logs", "shop/logs", VOLUME_SNAP, "volumes/shop/logs"),
        ("web/cache", "web-dr/cache", SNAP, "volumes/web/cache"),
    ]
    cache = fills.fills[2]
    assert (cache.namespace, cache.pvc) == ("web-dr", "cache")
    target = cache.mover_target()
    assert (target.namespace, target.pvc, target.access_modes, target.capacity) == (
        "web-dr",
        "cache",
        ("ReadWriteOnce",),
        "1Gi",
    )
    assert dict(fills.skipped) == {
        "shop/kept": "the claim exists in the target (skip): drkit leaves its data alone",
        "shop/updated": "the claim exists in the target (update): drkit leaves its data alone",
        "shop/broken": "its capture failed: no --volume-path-map rule matches",
        "shop/plain": "the snapshot holds no data for this claim (not captured)",
        "shop/nosnap": "its record names no volume snapshot",
        "shop/another-orphan": "its claim is not restored by this plan",
        "shop/orphan": "its claim is not restored by this plan",
    }
    # claims in plan order first, then the records without a claim, sorted
    assert [s for s, _ in fills.skipped][-2:] == ["shop/another-orphan", "shop/orphan"]
    as_json = fills.to_json()
    assert as_json["fills"][1] == {
        "source": "shop/logs",
        "target": "shop/logs",
        "snapshot": VOLUME_SNAP,
        "path": "volumes/shop/logs",
        "mode": "job",
        "files": 3,
        "bytes": 42,
    }
    assert {"source": "shop/plain", "reason": dict(fills.skipped)["shop/plain"]} in as_json["skipped"]


def test_plan_fills_without_volume_meta_and_with_a_failure_without_reason() -> None:
    plan = restore_plan(claim_action("shop", "data"), claim_action("shop", "x", Verb.FAIL))
    assert plan_fills(None, plan, SNAP).fills == ()
    assert plan_fills({}, plan, SNAP).skipped == (
        ("shop/data", "the snapshot holds no data for this claim (not captured)"),
        ("shop/x", "the snapshot holds no data for this claim (not captured)"),
    )
    failed = record("shop", "data", status="failed")
    del failed["error"]
    fills = plan_fills({"volumes": [failed, record("shop", "x")]}, plan, SNAP)
    assert fills.fills == ()
    assert fills.skipped == (
        ("shop/data", "its capture failed: no reason recorded"),
        ("shop/x", "the claim exists in the target (fail): drkit leaves its data alone"),
    )


def test_plan_fills_ignores_actions_that_are_not_claims_of_the_core_group() -> None:
    odd = Action(claim_ref("shop", "data"), Verb.CREATE, "t", b"{}", PHASE_VOLUMES, "elsewhere/data.json")
    other_group = Action(
        ObjectRef("example.com", "v1", "persistentvolumeclaims", "Claim", "shop", "data"),
        Verb.CREATE,
        "t",
        b"{}",
        PHASE_VOLUMES,
        "resources/core/v1/persistentvolumeclaims/shop/data.json",
    )
    fills = plan_fills({"volumes": [record("shop", "data")]}, restore_plan(odd, other_group), SNAP)
    assert fills == FillPlan((), (("shop/data", "its claim is not restored by this plan"),))


# -- apply_with_volumes: when fills happen -------------------------------------------------------


@dataclass
class RecordingFiller:
    """drkit's Filler interface: remembers which requests the API server had seen at each fill."""

    api: FakeApi
    fail: set[str] = field(default_factory=set)
    mode: str = "local"
    seen: list[tuple[str, list[str]]] = field(default_factory=list)

    def fill(self, fill: VolumeFill, result: FillResult) -> None:
        self.seen.append((fill.key, [f"{c.verb} {c.path}" for c in self.api.calls]))
        if fill.key in self.fail:
            raise KubernetesError(f"restore Job {fill.namespace}/x failed: no space left on device")
        result.files, result.bytes = 2, 10
        result.message = "2 files"


def fake_api(*namespaces: str) -> FakeApi:
    api = FakeApi()
    for ns in namespaces:
        api.add(f"/api/v1/namespaces/{ns}", {"metadata": {"name": ns}, "status": {"phase": "Active"}})
    return api


def writes(api: FakeApi) -> list[str]:
    return [c.path for c in api.writes()]


def test_fills_run_after_claims_and_secrets_and_before_the_first_workload() -> None:
    api = fake_api("shop")
    data, logs = claim_action("shop", "data"), claim_action("shop", "logs")
    plan = restore_plan(
        plain_action(deploy_ref("shop", "web"), PHASE_WORKLOADS),
        plain_action(secret_ref("shop", "drkit-repo"), PHASE_SECRETS),
        data,
        plain_action(ObjectRef("", "v1", "configmaps", "ConfigMap", "shop", "cfg"), PHASE_CONFIGMAPS),
        logs,
    )
    fills = plan_fills({"volumes": [record("shop", "data"), record("shop", "logs")]}, plan, SNAP)
    filler = RecordingFiller(api, fail={"shop/data"})
    report, filled = apply_with_volumes(api, plan, fills, filler)

    assert report.failed == []
    assert writes(api) == [
        data.ref.api_path(),
        logs.ref.api_path(),
        secret_ref("shop", "drkit-repo").api_path(),
        "/api/v1/namespaces/shop/configmaps/cfg",
        deploy_ref("shop", "web").api_path(),
    ]
    # both fills saw every write but the workload's: the claims and the mover Secret existed
    (first_key, first_seen), (second_key, second_seen) = filler.seen
    assert (first_key, second_key) == ("shop/data", "shop/logs")
    for seen in (first_seen, second_seen):
        assert f"PATCH {secret_ref('shop', 'drkit-repo').api_path()}" in seen
        assert f"PATCH {data.ref.api_path()}" in seen
        assert not any("/deployments/" in s for s in seen)
    # the first fill failed (recorded, not raised) and the second still ran
    assert [(r.fill.key, r.ok, r.mode) for r in filled] == [
        ("shop/data", False, "local"),
        ("shop/logs", True, "local"),
    ]
    assert "no space left on device" in filled[0].message
    assert (filled[1].files, filled[1].bytes, filled[1].message) == (2, 10, "2 files")
    assert summary(filled) == "1 of 2 volumes filled, 1 failed"
    assert filled[1].to_json()["restoredFiles"] == 2


def test_without_workloads_the_fills_run_at_the_end() -> None:
    api = fake_api("shop")
    plan = restore_plan(
        claim_action("shop", "data"), plain_action(secret_ref("shop", "drkit-repo"), PHASE_SECRETS)
    )
    fills = plan_fills({"volumes": [record("shop", "data")]}, plan, SNAP)
    filler = RecordingFiller(api)
    report, filled = apply_with_volumes(api, plan, fills, filler)
    assert report.failed == []
    ((key, seen),) = filler.seen
    assert key == "shop/data"
    assert [s for s in seen if s.startswith("PATCH")] == [f"PATCH {p}" for p in writes(api)]
    assert len(writes(api)) == 2
    assert [r.ok for r in filled] == [True]
    assert summary(filled) == "1 of 1 volumes filled"


def test_only_claims_actually_created_are_filled() -> None:
    api = fake_api("shop")  # no namespace "gone": its claim's apply fails with 404
    plan = restore_plan(
        claim_action("shop", "data"),
        claim_action("gone", "lost"),
        plain_action(deploy_ref("shop", "web"), PHASE_WORKLOADS),
    )
    fills = plan_fills({"volumes": [record("shop", "data"), record("gone", "lost")]}, plan, SNAP)
    assert [f.key for f in fills.fills] == ["shop/data", "gone/lost"]
    filler = RecordingFiller(api)
    report, filled = apply_with_volumes(api, plan, fills, filler)

    assert [r.action.ref.name for r in report.failed] == ["lost"]
    assert [key for key, _ in filler.seen] == ["shop/data"]
    assert [(r.fill.key, r.ok, r.message) for r in filled] == [
        ("shop/data", True, "2 files"),
        ("gone/lost", False, "not filled: the claim gone/lost was not created"),
    ]


def test_apply_with_volumes_without_fills_is_apply_plan() -> None:
    api = fake_api("shop")
    plan = restore_plan(
        claim_action("shop", "data"), plain_action(deploy_ref("shop", "web"), PHASE_WORKLOADS)
    )
    report, filled = apply_with_volumes(api, plan, None, None)
    assert (report.failed, filled) == ([], [])
    assert len(writes(api)) == 2


def test_before_workloads_runs_once_also_with_several_later_phases() -> None:
    from drkit.restore.applier import apply_plan

    api = fake_api("shop")
    calls: list[int] = []
    plan = restore_plan(
        plain_action(ObjectRef("", "v1", "namespaces", "Namespace", "", "shop"), PHASE_NAMESPACES, Verb.SKIP),
        plain_action(deploy_ref("shop", "web"), PHASE_WORKLOADS),
        plain_action(ObjectRef("example.com", "v1", "gadgets", "Gadget", "shop", "g"), 11),
    )
    report = apply_plan(api, plan, before_workloads=lambda: calls.append(len(api.writes())))
    assert calls == [0]
    assert len(report.results) == 3


class FailingRepoFiller:
    mode = "local"

    def fill(self, fill: VolumeFill, result: FillResult) -> None:
        if fill.pvc == "a":
            raise StorageError("pack 1f2e not found")
        raise OSError(28, "No space left on device")


def test_fill_volumes_records_storage_and_os_errors() -> None:
    fills = [
        VolumeFill("s/a", "s", "a", SNAP, "volumes/s/a", {}),
        VolumeFill("s/b", "s", "b", SNAP, "volumes/s/b", {}),
    ]
    results = fill_volumes(fills, FailingRepoFiller())
    assert [(r.ok, r.mode) for r in results] == [(False, "local"), (False, "local")]
    assert "pack 1f2e not found" in results[0].message
    assert "No space left on device" in results[1].message
    assert all(r.duration_s >= 0 for r in results)


# -- LocalFiller: a real repository -----------------------------------------------------------------

PASSWORD = "unit test passphrase for volume fills"


def _ahead() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=2, microseconds=PARENT_MARGIN_NS // 1000)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    (tmp_path / "repo").mkdir()
    return Repository.init(
        LocalStore(tmp_path / "repo"),
        Credential(passphrase=Secret(PASSWORD)),
        lock_mode=None,
        retention=timedelta(days=1),
        scrypt_n=1024,
        clock=_ahead,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Snapshots:
    cluster: str
    volume: str
    data: dict[str, bytes]
    logs: dict[str, bytes]


@pytest.fixture
def snaps(repo: Repository, tmp_path: Path) -> Snapshots:
    """A cluster snapshot holding volumes/shop/data (local mode) and a separate volume snapshot holding
    volumes/shop/logs (as a mover Job writes it)."""
    data, logs = tmp_path / "src-data", tmp_path / "src-logs"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    logs.mkdir()
    (logs / "app.log").write_text("line 1\nline 2\n")
    with repo.new_snapshot(kind="volume", host="pvc:shop/logs") as vol:
        vol.add_directory("volumes/shop/logs", logs)
    with repo.new_snapshot(kind="cluster") as snap:
        snap.add_directory("volumes/shop/data", data)
    assert snap.snapshot is not None
    assert vol.snapshot is not None
    return Snapshots(snap.snapshot.id, vol.snapshot.id, tree(data), tree(logs))


def fills_for(snaps: Snapshots, target_ns: str = "shop-dr") -> FillPlan:
    plan = restore_plan(
        claim_action("shop", "data", target_ns=target_ns), claim_action("shop", "logs", target_ns=target_ns)
    )
    meta = {"volumes": [record("shop", "data"), record("shop", "logs", mode="job", snapshot=snaps.volume)]}
    return plan_fills(meta, plan, snaps.cluster)


def test_local_filler_restores_byte_identical_files_into_the_mapped_directory(
    repo: Repository, snaps: Snapshots, tmp_path: Path
) -> None:
    rule = PathRule.parse(f"*/*={tmp_path}/out/{{namespace}}/{{pvc}}")
    filler = LocalFiller(repo, None, [rule], node_name="n1")
    results = fill_volumes(fills_for(snaps).fills, filler)

    assert [(r.fill.key, r.ok) for r in results] == [("shop-dr/data", True), ("shop-dr/logs", True)], results
    assert tree(tmp_path / "out" / "shop-dr" / "data") == snaps.data
    assert tree(tmp_path / "out" / "shop-dr" / "logs") == snaps.logs
    data = results[0]
    assert (data.files, data.bytes) == (2, 6 + 256 * 300)
    assert data.where == f"{tmp_path}/out/shop-dr/data (--volume-path-map */*)"
    assert data.message.startswith(f"2 files, {6 + 256 * 300} bytes into {tmp_path}/out/shop-dr/data")
    assert results[1].to_json()["snapshot"] == snaps.volume


def test_local_filler_refuses_a_non_empty_directory_and_writes_nothing(
    repo: Repository, snaps: Snapshots, tmp_path: Path
) -> None:
    occupied = tmp_path / "out" / "shop-dr" / "data"
    occupied.mkdir(parents=True)
    (occupied / "keep.txt").write_text("somebody's data")
    a_file = tmp_path / "out" / "shop-dr" / "logs"
    a_file.write_text("not a directory")
    filler = LocalFiller(
        repo, None, [PathRule.parse(f"*/*={tmp_path}/out/{{namespace}}/{{pvc}}")], node_name="n1"
    )

    with pytest.raises(
        ConfigError, match="is not an empty directory; drkit does not write over data"
    ) as info:
        filler.fill(fills_for(snaps).fills[0], FillResult(fills_for(snaps).fills[0], "local"))
    assert "--volume-path-map" in (info.value.hint or "")
    results = fill_volumes(fills_for(snaps).fills, filler)
    assert [r.ok for r in results] == [False, False]
    assert f"volume shop-dr/data: {occupied} is not an empty directory" in results[0].message
    assert f"volume shop-dr/logs: {a_file} is not an empty directory" in results[1].message
    assert tree(occupied) == {"keep.txt": b"somebody's data"}
    assert a_file.read_text() == "not a directory"


def bound(api: FakeApi, namespace: str, pvc: str, pv: str, host: str | None, *, phase: str = "Bound") -> None:
    api.add(
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{pvc}",
        {
            "metadata": {"name": pvc, "namespace": namespace},
            "spec": {"volumeName": pv},
            "status": {"phase": phase},
        },
    )
    spec: dict[str, Any] = {"hostPath": {"path": host}} if host else {"csi": {"driver": "x"}}
    api.add(f"/api/v1/persistentvolumes/{pv}", {"metadata": {"name": pv}, "spec": spec})


def test_local_filler_uses_the_bound_pv_for_pv_rules_and_its_host_path(
    repo: Repository, snaps: Snapshots, tmp_path: Path
) -> None:
    api = fake_api("shop-dr")
    bound(api, "shop-dr", "data", "pvc-7", str(tmp_path / "host" / "pvc-7"))
    bound(api, "shop-dr", "logs", "pvc-8", None)
    data, logs = fills_for(snaps).fills

    # no rule: the PV's hostPath (it need not exist yet)
    plain = LocalFiller(repo, api, [], node_name="n1")
    assert plain.target_dir(data) == (tmp_path / "host" / "pvc-7", "the PV's host path")
    # a rule with {pv} needs the bound PV too; a rule by PV name as well
    by_pv = LocalFiller(repo, api, [PathRule.parse(f"*/*={tmp_path}/pv/{{pv}}")], node_name="n1")
    assert by_pv.target_dir(logs) == (tmp_path / "pv" / "pvc-8", "--volume-path-map */*")
    by_name = LocalFiller(repo, api, [PathRule.parse(f"pvc-8={tmp_path}/named")], node_name="n1")
    assert by_name.target_dir(logs) == (tmp_path / "named", "--volume-path-map pvc-8")

    results = fill_volumes([data, logs], plain)
    assert results[0].ok, results[0].message
    assert tree(tmp_path / "host" / "pvc-7") == snaps.data
    assert "(the PV's host path)" in results[0].where
    assert not results[1].ok
    assert results[1].message == (
        "volume shop-dr/logs: no --volume-path-map rule matches and the PV is not a hostPath/local volume"
    )
    gets = [c.path for c in api.calls if c.verb == "GET"]
    assert "/api/v1/namespaces/shop-dr/persistentvolumeclaims/data" in gets
    assert "/api/v1/persistentvolumes/pvc-7" in gets
    assert not api.writes()


def test_local_filler_without_a_rule_or_cluster_or_binding_says_so(
    repo: Repository, snaps: Snapshots
) -> None:
    data = fills_for(snaps).fills[0]
    with pytest.raises(ConfigError, match="volume shop-dr/data: no --volume-path-map rule matches it"):
        LocalFiller(repo, None, [PathRule.parse("other/*=/x/{pvc}")], node_name="n1").target_dir(data)
    api = fake_api("shop-dr")
    bound(api, "shop-dr", "data", "", None, phase="Pending")
    pending = LocalFiller(repo, api, [], node_name="n1", bind_timeout_s=0)
    with pytest.raises(KubernetesError, match="claim shop-dr/data was not Bound after 0s") as info:
        pending.target_dir(data)
    assert "--volume-path-map" in (info.value.hint or "")


def test_local_filler_first_matching_rule_wins(repo: Repository, snaps: Snapshots, tmp_path: Path) -> None:
    api = fake_api("shop-dr")
    bound(api, "shop-dr", "data", "pvc-7", None)
    rules = [PathRule.parse(f"pvc-7={tmp_path}/by-pv"), PathRule.parse(f"*/*={tmp_path}/by-claim/{{pvc}}")]
    data = fills_for(snaps).fills[0]
    assert LocalFiller(repo, api, rules, node_name="n1").target_dir(data)[0] == tmp_path / "by-pv"


# -- JobFiller -----------------------------------------------------------------------------------


class FakeMovers:
    """drkit's MoverCluster interface in memory: records what is created, finishes Jobs as told."""

    def __init__(self, *, state: str = "Complete", message: str | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.state = state
        self.message = message
        self.waited: list[tuple[str, str, float]] = []

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.created.append(manifest)
        return manifest

    def delete(self, manifest: dict[str, Any]) -> None:
        raise AssertionError("a restore deletes nothing")

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any]:
        self.waited.append((namespace, name, timeout_s))
        return {"status": {"conditions": [{"type": self.state, "status": "True"}]}}

    def job_messages(self, namespace: str, name: str) -> list[str]:
        return [self.message] if self.message else []

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        raise AssertionError("a restore makes no VolumeSnapshot")


def secret(api: FakeApi, namespace: str, name: str, **data: str) -> None:
    api.add(f"/api/v1/namespaces/{namespace}/secrets/{name}", {"metadata": {"name": name}, "data": data})


def job_filler(api: FakeApi, movers: FakeMovers, **settings: Any) -> JobFiller:
    return JobFiller(cast(KubeClient, api), MoverSettings(**settings), cluster=movers, timeout_s=600)


def test_job_filler_needs_a_readable_mover_secret_in_the_claims_namespace() -> None:
    api = fake_api("shop-dr", "bare", "nourl")
    secret(api, "shop-dr", "repo-ro", url="czM6Ly9i", password="cHc=")
    secret(api, "bare", "repo-ro", url="czM6Ly9i", **{"write-only": "dHJ1ZQ==", "keyfile": "a2V5"})
    secret(api, "nourl", "repo-ro", password="cHc=")
    filler = job_filler(api, FakeMovers(), secret="repo-ro")

    filler.check_secret("shop-dr")
    with pytest.raises(ConfigError) as missing:
        filler.check_secret("elsewhere")
    assert missing.value.field == "mover-secret"
    assert "needs the Secret repo-ro in namespace elsewhere" in str(missing.value)
    assert "--volume-mover local" in (missing.value.hint or "")
    with pytest.raises(ConfigError, match="write-only key slot, which cannot read backups") as write_only:
        filler.check_secret("bare")
    assert write_only.value.field == "mover-secret"
    with pytest.raises(ConfigError, match="Secret nourl/repo-ro has no key 'url'") as no_url:
        filler.check_secret("nourl")
    assert no_url.value.field == "mover-secret"


def test_job_filler_reports_other_api_errors_as_kubernetes_errors() -> None:
    api = fake_api("shop-dr")
    api.failures["/api/v1/namespaces/shop-dr/secrets/drkit-repo"] = [403]
    with pytest.raises(KubernetesError, match="cannot read Secret shop-dr/drkit-repo") as info:
        job_filler(api, FakeMovers()).check_secret("shop-dr")
    assert not isinstance(info.value, ConfigError)


def test_job_filler_runs_a_restore_job_per_claim_from_the_source_path(snaps_free_fills: FillPlan) -> None:
    api = fake_api("shop-dr")
    secret(api, "shop-dr", "drkit-repo", url="czM6Ly9i", password="cHc=")
    done = result_text({"op": "restore", "snapshot": VOLUME_SNAP, "files": 12, "bytes": 3456})
    movers = FakeMovers(message="restoring...\n" + done)
    filler = job_filler(api, movers, image="registry.example/drkit:test")
    logs = snaps_free_fills.fills[1]
    results = fill_volumes([logs], filler)

    (result,) = results
    assert result.ok, result.message
    assert (result.mode, result.files, result.bytes) == ("job", 12, 3456)
    (job,) = movers.created
    name = job["metadata"]["name"]
    assert job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "shop-dr"
    assert result.where == f"Job shop-dr/{name}"
    assert result.message == f"12 files, 3456 bytes by Job shop-dr/{name}"
    pod = job["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--path") + 1] == "volumes/shop/logs"  # the source claim's data
    assert args[args.index("--snapshot") + 1] == VOLUME_SNAP
    assert pod["containers"][0]["image"] == "registry.example/drkit:test"
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "logs"}
    assert movers.waited == [("shop-dr", name, pytest.approx(600, abs=1))]  # what is left of one deadline
    assert not api.writes()  # the filler creates through the MoverCluster only


def test_job_filler_failures_are_per_volume(snaps_free_fills: FillPlan) -> None:
    api = fake_api("shop-dr")
    secret(api, "shop-dr", "drkit-repo", url="czM6Ly9i", password="cHc=")
    failed = FakeMovers(state="Failed", message=result_text({"op": "restore", "error": "wrong passphrase"}))
    results = fill_volumes(snaps_free_fills.fills, job_filler(api, failed))
    assert [r.ok for r in results] == [False, False]
    assert "failed: wrong passphrase" in results[0].message
    silent = fill_volumes(snaps_free_fills.fills[:1], job_filler(api, FakeMovers()))
    assert "completed without a result" in silent[0].message
    no_secret = fill_volumes(snaps_free_fills.fills[:1], job_filler(fake_api("shop-dr"), FakeMovers()))
    assert "needs the Secret drkit-repo in namespace shop-dr" in no_secret[0].message


@pytest.fixture
def snaps_free_fills() -> FillPlan:
    plan = restore_plan(
        claim_action("shop", "data", target_ns="shop-dr"), claim_action("shop", "logs", target_ns="shop-dr")
    )
    meta = {
        "volumes": [
            record("shop", "data", mode="job", snapshot=VOLUME_SNAP),
            record("shop", "logs", mode="job", snapshot=VOLUME_SNAP),
        ]
    }
    return plan_fills(meta, plan, SNAP)


# -- fill_options and make_filler ----------------------------------------------------------------

PLAN_HEADER = (
    "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata:\n  name: p\nspec:\n  restore: {volumes: true}\n"
)


def plan_with(tmp_path: Path, volumes: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_HEADER + "  volumes:\n" + volumes, encoding="utf-8")
    return path


def test_fill_options_take_the_plan_and_the_command_line_overrides_it(tmp_path: Path) -> None:
    config = load_restore_plan(
        plan_with(
            tmp_path,
            "    mover: Job\n"
            "    pathMap: ['shop/*=/plan/{pvc}', '*=local-path']\n"
            "    moverSecret: plan-secret\n"
            "    image: plan/drkit:1\n"
            "    timeout: 10m\n",
        )
    )
    from_plan = fill_options(config)
    assert from_plan.mover == "job"
    assert [r.pattern for r in from_plan.path_rules] == ["shop/*", "*"]
    assert (from_plan.settings.secret, from_plan.settings.image) == ("plan-secret", "plan/drkit:1")
    assert from_plan.timeout_s == 600.0
    assert from_plan.node_name is None

    cli = fill_options(
        config,
        mover="local",
        path_map=["shop/data=/cli/data"],
        image="cli/drkit:2",
        secret="cli-secret",
        timeout_s=30.0,
        node_name="n2",
    )
    assert cli.mover == "local"
    assert [r.pattern for r in cli.path_rules] == ["shop/data", "shop/*", "*"]  # the command line's first
    assert (cli.settings.secret, cli.settings.image, cli.timeout_s, cli.node_name) == (
        "cli-secret",
        "cli/drkit:2",
        30.0,
        "n2",
    )


def test_fill_options_defaults(tmp_path: Path) -> None:
    config = load_restore_plan(plan_with(tmp_path, "    pathMap: []\n"))
    options = fill_options(config)
    assert (options.mover, options.path_rules, options.timeout_s) == ("local", (), 3600.0)
    assert options.settings == MoverSettings()


@pytest.mark.parametrize(
    ("volumes", "field", "message"),
    [
        (
            "    pathMap:\n      - '*=/ok/{pvc}'\n      - nonsense\n",
            "spec.volumes.pathMap",
            "rule 2: --volume-path-map 'nonsense' is not",
        ),
        (
            "    pathMap: ['*=relative/{pvc}']\n",
            "spec.volumes.pathMap",
            "rule 1: --volume-path-map '*=relative/{pvc}': the path must be absolute",
        ),
        (
            "    moverSecret: Not_A_Label\n",
            "spec.volumes.moverSecret",
            "mover secret name 'Not_A_Label' is not a DNS label",
        ),
    ],
)
def test_a_bad_plan_setting_names_the_plan_file_line_and_field(
    tmp_path: Path, volumes: str, field: str, message: str
) -> None:
    path = plan_with(tmp_path, volumes)
    config = load_restore_plan(path)
    # the line where the field's value starts: a block list's first item, else the key's own line
    line = 9 if volumes.startswith("    pathMap:\n") else 8
    with pytest.raises(ConfigError) as info:
        fill_options(config)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field), str(info.value)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


def test_a_bad_command_line_setting_names_the_option(tmp_path: Path) -> None:
    config = load_restore_plan(plan_with(tmp_path, "    moverSecret: Not_A_Label\n"))
    with pytest.raises(ConfigError) as bad_rule:
        fill_options(config, path_map=["nonsense"], secret="ok")
    assert (bad_rule.value.field, bad_rule.value.file) == ("volume-path-map", None)
    with pytest.raises(ConfigError) as bad_secret:
        fill_options(config, secret="Also_Bad")
    assert (bad_secret.value.field, bad_secret.value.file) == ("mover-secret", None)
    # the command line's valid Secret replaces the plan's invalid one
    assert fill_options(config, secret="ok").settings.secret == "ok"


def test_make_filler_picks_the_mode(repo: Repository, tmp_path: Path) -> None:
    config = load_restore_plan(plan_with(tmp_path, "    mover: job\n    timeout: 90s\n"))
    kube = cast(KubeClient, fake_api())
    job = make_filler(fill_options(config), repo, kube)
    assert isinstance(job, JobFiller)
    assert (job.mode, job.timeout_s) == ("job", 90.0)
    local = make_filler(
        fill_options(config, mover="local", path_map=["*=/v/{pv}"], node_name="n9"), repo, kube
    )
    assert isinstance(local, LocalFiller)
    assert (local.mode, local.node_name, [r.pattern for r in local.rules]) == ("local", "n9", ["*"])


# -- the command line: restore plan (dry run) lists the fills -------------------------------------

PVC_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}


def _volume_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one cluster snapshot: a namespace with three claims and a Deployment, and the
    volume records of a capture (local, job mode, failed)."""
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    for name in ("DRKIT_REPO", "DRKIT_PASSWORD_FILE", "DRKIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "repo"
    repo = Repository.init(
        LocalStore(path), Credential(passphrase=Secret(PASSWORD)), lock_mode=None, retention=timedelta(0),
        scrypt_n=1024,
    )  # fmt: skip
    objects = [
        obj("Namespace", "shop"),
        obj("PersistentVolumeClaim", "data", "shop", spec=PVC_SPEC),
        obj("PersistentVolumeClaim", "logs", "shop", spec=PVC_SPEC),
        obj("PersistentVolumeClaim", "tmp", "shop", spec=PVC_SPEC),
        obj("Deployment", "web", "shop", spec={"replicas": 1}),
    ]
    volumes = {
        "mover": "local",
        "volumes": [
            record("shop", "data", files=2, bytes=9),
            record("shop", "logs", mode="job", snapshot=VOLUME_SNAP, files=1, bytes=4),
            record("shop", "tmp", status="failed", error="not mapped"),
        ],
    }
    with repo.new_snapshot(kind="cluster") as snap:
        records = []
        for o in objects:
            where = object_path(o)
            snap.add_bytes(where, o.raw, mtime=STABLE_MTIME)
            records.append(_object_record(o, where))
        snap.add_bytes(OBJECTS_PATH, json.dumps(records).encode(), mtime=STABLE_MTIME)
        snap.set_meta({"resources": {"objects": len(objects)}, "volumes": volumes})
    return path


def test_restore_plan_lists_the_volume_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _volume_repo(tmp_path, monkeypatch)
    document = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "vols"},
        "spec": {
            "repository": {"url": str(repo)},
            "target": {"scratch": True},
            "namespaceMapping": {"shop": "shop-dr"},
            "restore": {"volumes": True},
            "volumes": {"mover": "job"},
        },
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(document, sort_keys=False))
    data = drkit(capsys, "restore", "plan", str(plan), "-o", "json").json()
    volumes = data["volumes"]
    assert volumes["mover"] == "job"
    assert [(f["source"], f["target"], f["path"]) for f in volumes["fills"]] == [
        ("shop/data", "shop-dr/data", "volumes/shop/data"),
        ("shop/logs", "shop-dr/logs", "volumes/shop/logs"),
    ]
    assert volumes["fills"][0]["snapshot"] == data["snapshot"]
    assert volumes["fills"][1]["snapshot"] == VOLUME_SNAP
    assert volumes["skipped"] == [{"source": "shop/tmp", "reason": "its capture failed: not mapped"}]

    text = drkit(capsys, "restore", "plan", str(plan))
    assert text.code == 0, text.err
    assert "volume data (2 claims to fill before the workloads):" in text.out
    assert f"  shop-dr/data: from volumes/shop/data of snapshot {data['snapshot'][:8]} (2 files)" in text.out
    assert f"  shop-dr/logs: from volumes/shop/logs of snapshot {VOLUME_SNAP[:8]} (1 files)" in text.out
    assert "  shop/tmp: not restored: its capture failed: not mapped" in text.out
    dry = drkit(capsys, "restore", "run", str(plan), "--dry-run", "-o", "json").json()
    assert dry["volumes"] == volumes
    assert volumes["fills"][0]["where"].startswith("restore Job in shop-dr (Secret drkit-repo, image ")
    rules = ("--volume-path-map", f"shop-dr/*={tmp_path}/out/{{pvc}}", "--volume-path-map", "*=/elsewhere")
    local = drkit(
        capsys, "restore", "plan", str(plan), "--volume-mover", "local", *rules, "-o", "json"
    ).json()["volumes"]
    assert local["mover"] == "local"  # the command line over the plan
    assert [f["where"] for f in local["fills"]] == [
        f"{tmp_path}/out/{pvc} (--volume-path-map shop-dr/*)" for pvc in ("data", "logs")
    ]
    unknown = drkit(capsys, "restore", "plan", str(plan), "--volume-mover", "local", "-o", "json").json()
    assert unknown["volumes"]["fills"][0]["where"].startswith("the directory of the PersistentVolume")
    bad_rule = drkit(capsys, "restore", "run", str(plan), "--dry-run", "--volume-path-map", "nonsense")
    assert bad_rule.code == ExitCode.USAGE
    assert "volume-path-map: --volume-path-map 'nonsense' is not PV_OR_PATTERN=HOSTPATH" in bad_rule.err


def test_restore_plan_without_volumes_prints_no_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _volume_repo(tmp_path, monkeypatch)
    document = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "novols"},
        "spec": {"repository": {"url": str(repo)}, "target": {"scratch": True}},
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(document, sort_keys=False))
    data = drkit(capsys, "restore", "plan", str(plan), "-o", "json").json()
    assert "volumes" not in data
    assert "volume data" not in drkit(capsys, "restore", "plan", str(plan)).out


def test_local_filler_refuses_the_host_path_of_a_pv_on_another_node(
    repo: Repository, snaps: Snapshots, tmp_path: Path
) -> None:
    api = fake_api("shop-dr")
    bound(api, "shop-dr", "data", "pvc-7", str(tmp_path / "host" / "pvc-7"))
    hostname = {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-2"]}
    api.objects["/api/v1/persistentvolumes/pvc-7"]["spec"]["nodeAffinity"] = {
        "required": {"nodeSelectorTerms": [{"matchExpressions": [hostname]}]}
    }
    data = fills_for(snaps).fills[0]
    with pytest.raises(ConfigError, match="its host path is on node node-2, and drkit runs on n1"):
        LocalFiller(repo, api, [], node_name="n1").target_dir(data)


def test_the_volume_example_of_the_docs_loads(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "restore-plans.md"
    blocks = [b for b in doc.read_text(encoding="utf-8").split("```yaml\n") if "name: shop-with-data" in b]
    assert len(blocks) == 1
    path = tmp_path / "plan.yaml"
    path.write_text(blocks[0].split("```")[0], encoding="utf-8")
    config = load_restore_plan(path)
    assert config.restore.volumes
    options = fill_options(config)
    assert options.mover == "local"
    fill = VolumeFill("shop/data", "shop-restored", "data", SNAP, "volumes/shop/data", {})
    filler = LocalFiller(cast(Repository, None), None, options.path_rules, node_name="n1")
    assert filler.target_dir(fill) == (
        Path("/srv/restore/shop-restored/data"),
        "--volume-path-map shop-restored/*",
    )


def test_a_zero_volume_timeout_on_the_command_line_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _volume_repo(tmp_path, monkeypatch)
    document = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "vols"},
        "spec": {"repository": {"url": str(repo)}, "target": {"scratch": True}, "restore": {"volumes": True}},
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(document, sort_keys=False))
    result = drkit(capsys, "restore", "run", str(plan), "--dry-run", "--volume-timeout", "0s")
    assert result.code == ExitCode.USAGE
    assert "volume-timeout" in result.err


def workload_action(ref: ObjectRef, claims: list[str], *, cron: bool = False) -> Action:
    pod: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    pod["volumes"] = [
        {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)
    ]
    pod["volumes"].append({"name": "tmp", "emptyDir": {}})
    spec: dict[str, Any] = {"template": {"spec": pod}}
    if cron:
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": spec}}
    doc = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": {"name": ref.name}, "spec": spec}
    return Action(
        ref, Verb.CREATE, "test", json.dumps(doc).encode(), PHASE_WORKLOADS, f"resources/{ref.name}.json"
    )


def test_a_workload_whose_volume_could_not_be_filled_is_held_back() -> None:
    api = fake_api("shop", "other")
    db = workload_action(ObjectRef("apps", "v1", "statefulsets", "StatefulSet", "shop", "db"), ["data"])
    web = workload_action(deploy_ref("shop", "web"), ["logs"])
    report_job = workload_action(
        ObjectRef("batch", "v1", "cronjobs", "CronJob", "shop", "report"), ["logs", "data"], cron=True
    )
    other_ns = workload_action(deploy_ref("other", "web"), ["data"])  # a claim "data" of another namespace
    plan = restore_plan(
        claim_action("shop", "data"), claim_action("shop", "logs"), db, web, report_job, other_ns
    )
    fills = plan_fills({"volumes": [record("shop", "data"), record("shop", "logs")]}, plan, SNAP)
    report, filled = apply_with_volumes(api, plan, fills, RecordingFiller(api, fail={"shop/data"}))

    assert [(r.fill.key, r.ok) for r in filled] == [("shop/data", False), ("shop/logs", True)]
    held = {r.action.ref.name + "/" + r.action.ref.kind: r.message for r in report.failed}
    assert set(held) == {"db/StatefulSet", "report/CronJob"}
    assert held["db/StatefulSet"].startswith("held back: it mounts the claim data, whose data could not be")
    sent = writes(api)
    assert db.ref.api_path() not in sent
    assert report_job.ref.api_path() not in sent
    assert web.ref.api_path() in sent
    assert other_ns.ref.api_path() in sent


def test_a_statefulset_whose_template_claim_could_not_be_filled_is_held_back() -> None:
    api = fake_api("shop")
    sts_ref = ObjectRef("apps", "v1", "statefulsets", "StatefulSet", "shop", "db")
    db = workload_action(sts_ref, [])
    doc = json.loads(db.body)
    doc["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}, {"metadata": {"name": "wal"}}]
    db = replace(db, body=json.dumps(doc).encode())
    other = workload_action(ObjectRef("apps", "v1", "statefulsets", "StatefulSet", "shop", "cache"), [])
    doc = json.loads(other.body)
    doc["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    other = replace(other, body=json.dumps(doc).encode())
    claims = ["data-db-0", "data-db-1", "wal-db-0", "wal-db-1", "data-cache-0", "data-cache-x"]
    plan = restore_plan(*(claim_action("shop", c) for c in claims), db, other)
    fills = plan_fills({"volumes": [record("shop", c) for c in claims]}, plan, SNAP)
    # ordinal 1 of the second template failed: every ordinal counts, not only 0, and every template
    report, filled = apply_with_volumes(
        api, plan, fills, RecordingFiller(api, fail={"shop/wal-db-1", "shop/data-cache-x"})
    )

    assert sorted(r.fill.key for r in filled if not r.ok) == ["shop/data-cache-x", "shop/wal-db-1"]
    held = {r.action.ref.name: r.message for r in report.failed}
    assert set(held) == {"db"}
    assert held["db"].startswith("held back: it mounts the claim wal-db-1, whose data could not be")
    sent = writes(api)
    assert db.ref.api_path() not in sent
    assert other.ref.api_path() in sent  # data-cache-0 was filled; data-cache-x is no ordinal of cache


def test_run_as_user_restores_as_that_user_without_capabilities(tmp_path: Path) -> None:
    from drkit.capture.movers import restore_job

    document = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "uid"},
        "spec": {"target": {"scratch": True}, "restore": {"volumes": True}, "volumes": {"runAsUser": 1000}},
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_restore_plan(plan)
    from_plan = fill_options(config, mover="job")
    from_cli = fill_options(config, mover="job", run_as_user=2000)
    assert (from_plan.settings.run_as_user, from_cli.settings.run_as_user) == (1000, 2000)
    fill = VolumeFill("shop/data", "shop", "data", SNAP, "volumes/shop/data", record("shop", "data"))
    pod = restore_job(fill.mover_target(), from_cli.settings, SNAP)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 2000
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert fill_options(config, mover="job", run_as_user=None).settings.restore_as_root is False
    with pytest.raises(ConfigError, match="above 0"):
        fill_options(config, mover="job", run_as_user=0)
