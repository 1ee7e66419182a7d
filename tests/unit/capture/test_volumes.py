"""Volume selection, local-mode path resolution, hooks (parsing and ordering with a fake executor) and
the volume step (local mode into a real LocalStore repository; job mode through a fake MoverCluster,
drkit's own interface)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from drkit.capture.claims import Selected, VolumeInfo, VolumeSelection, select_volumes
from drkit.capture.hooks import ExecResult, Hook, claim_pods, parse_command, pod_hooks, run_around
from drkit.capture.jobclient import collection_path, job_finished
from drkit.capture.localpaths import LocalSource, PathRule, resolve_local
from drkit.capture.movers import LABEL_SNAPSHOT, MoverSettings, MoverTarget, result_text
from drkit.capture.volumes import VolumeOptions, capture_volumes, discover_volumes
from drkit.errors import ConfigError, KubernetesError
from drkit.kube.client import KubeClient, api_error
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import PARENT_MARGIN_NS, Repository
from drkit.restore.restorejob import restore_volume, run_restore_job, target_from_record
from drkit.secret import Secret
from drkit.storage.local import LocalStore

# -- objects as the API serves them ---------------------------------------------------------------


def pvc(
    ns: str, name: str, pv: str | None, *, phase: str = "Bound", modes: Sequence[str] = ("ReadWriteOnce",)
) -> Any:
    spec: dict[str, Any] = {
        "accessModes": list(modes),
        "storageClassName": "fast",
        "resources": {"requests": {"storage": "2Gi"}},
    }
    if pv:
        spec["volumeName"] = pv
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": spec,
        "status": {"phase": phase, "accessModes": list(modes), "capacity": {"storage": "2Gi"}},
    }


def pv(
    name: str,
    *,
    host_path: str | None = None,
    local: str | None = None,
    csi: str | None = None,
    node: str | None = None,
) -> Any:
    spec: dict[str, Any] = {"storageClassName": "fast"}
    if host_path:
        spec["hostPath"] = {"path": host_path}
    if local:
        spec["local"] = {"path": local}
    if csi:
        spec["csi"] = {"driver": csi, "volumeHandle": "h"}
    if node:
        spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        }
    return {"metadata": {"name": name}, "spec": spec}


def pod(
    ns: str,
    name: str,
    claim: str,
    *,
    node: str = "n1",
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
) -> Any:
    return {
        "metadata": {"namespace": ns, "name": name, "annotations": annotations or {}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app"}, {"name": "sidecar"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}],
        },
        "status": {"phase": phase},
    }


def attachment(pv_name: str, node: str, *, attached: bool = True) -> Any:
    return {
        "spec": {"source": {"persistentVolumeName": pv_name}, "nodeName": node},
        "status": {"attached": attached},
    }


# -- selection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mode", "selector"),
    [(None, "none", None), ("none", "none", None), ("all", "all", None), ("app=db", "selector", "app=db"),
     ("tier in (a,b),!skip", "selector", "tier in (a,b),!skip")],
)  # fmt: skip
def test_volume_selection_parses(text: str | None, mode: str, selector: str | None) -> None:
    sel = VolumeSelection.parse(text)
    assert (sel.mode, sel.selector, sel.enabled) == (mode, selector, mode != "none")


@pytest.mark.parametrize("text", ["=x", "a;b", "app=$(rm)", ",x"])
def test_volume_selection_refuses_garbage(text: str) -> None:
    with pytest.raises(ConfigError, match="--volumes"):
        VolumeSelection.parse(text)


def test_select_volumes_takes_bound_claims_with_their_node_and_pv() -> None:
    selected = select_volumes(
        [
            pvc("b", "db", "pv-db"),
            pvc("a", "web", "pv-web", modes=("ReadWriteMany",)),
            pvc("a", "pending", None, phase="Pending"),
            pvc("a", "orphan", "pv-gone"),
            pvc("other", "x", "pv-x"),
            pvc("a", "local", "pv-local"),
        ],
        [
            pv("pv-db", csi="ebs.csi.aws.com"),
            pv("pv-web", host_path="/srv/web"),
            pv("pv-x"),
            pv("pv-local", local="/mnt/disk1", node="n7"),
        ],
        [pod("b", "db-0", "db", node="n2"), pod("a", "web-1", "web", node="n3", phase="Pending")],
        [attachment("pv-db", "n9"), attachment("pv-web", "n4", attached=False)],
        include_namespace=lambda ns: ns != "other",
        snapshot_class="csi-snap",
    )
    assert [v.key for v in selected.volumes] == ["a/local", "a/web", "b/db"]
    assert selected.skipped == {
        "a/orphan": "its PersistentVolume pv-gone was not found",
        "a/pending": "not Bound (phase Pending)",
    }
    local, web, db = selected.volumes
    assert (db.pv, db.node, db.node_source, db.csi_driver, db.snapshot_class) == (
        "pv-db", "n9", "attachment", "ebs.csi.aws.com", "csi-snap"
    )  # fmt: skip
    assert (web.node, web.node_source, web.host_path, web.snapshot_class) == (None, "", "/srv/web", None)
    assert web.access_modes == ("ReadWriteMany",)
    assert (local.node, local.node_source, local.host_path) == ("n7", "affinity", "/mnt/disk1")
    assert (db.capacity, db.storage_class, db.volume_mode) == ("2Gi", "fast", "Filesystem")
    assert db.to_record()["accessModes"] == ["ReadWriteOnce"]


def test_select_volumes_prefers_a_running_pod_over_affinity() -> None:
    selected = select_volumes([pvc("a", "d", "pv1")], [pv("pv1", node="n7")], [pod("a", "p", "d", node="n2")])
    (vol,) = selected.volumes
    assert (vol.node, vol.node_source) == ("n2", "pod")


def test_select_volumes_collects_hooks_and_keeps_a_malformed_one_as_the_volumes_error() -> None:
    good = {"pre.hook.backup.drkit.io/command": '["sync"]'}
    bad = {"pre.hook.backup.drkit.io/command": "fsfreeze --freeze /data"}
    selected = select_volumes(
        [pvc("a", "d1", "pv1"), pvc("a", "d2", "pv2")],
        [pv("pv1"), pv("pv2")],
        [pod("a", "p1", "d1", annotations=good), pod("a", "p2", "d2", annotations=bad)],
    )
    d1, d2 = selected.volumes
    assert [h.command for h in d1.hooks] == [("sync",)]
    assert d2.hooks == ()
    assert "must be a JSON array" in d2.hook_error


# -- local mode ---------------------------------------------------------------------------------


def vol(**kw: Any) -> VolumeInfo:
    return replace(VolumeInfo("shop", "data", "pvc-123"), **kw)


def test_path_rules_match_pv_names_or_namespace_and_claim() -> None:
    assert PathRule.parse("pvc-123=/srv/x").matches(vol())
    assert PathRule.parse("pvc-*=/srv/{pv}").path_for(vol()) == Path("/srv/pvc-123")
    assert PathRule.parse("shop/*=/m/{namespace}/{pvc}").path_for(vol()) == Path("/m/shop/data")
    assert not PathRule.parse("shop/other=/x").matches(vol())
    assert not PathRule.parse("pvc-9*=/x").matches(vol())
    assert PathRule.parse("*=local-path").path_for(vol()) == Path(
        "/opt/local-path-provisioner/pvc-123_shop_data"
    )
    custom = PathRule.parse("*=local-path:/host/lpp/")
    assert custom.path_for(vol()) == Path("/host/lpp/pvc-123_shop_data")


@pytest.mark.parametrize(
    ("text", "message"),
    [("nothing", "PV_OR_PATTERN=HOSTPATH"), ("=/x", "PV_OR_PATTERN"), ("a=", "PV_OR_PATTERN"),
     ("a=relative/dir", "absolute"), ("a=/x/{node}", "unknown placeholder")],
)  # fmt: skip
def test_path_rules_refuse_bad_input(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PathRule.parse(text)


def test_resolve_local_first_rule_then_host_path_on_this_node(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "hp").mkdir()
    rules = [PathRule.parse(f"pvc-1*={tmp_path}/a"), PathRule.parse(f"*={tmp_path}/b")]
    assert resolve_local(vol(), rules, "n1") == LocalSource(tmp_path / "a", "--volume-path-map pvc-1*")
    missing = resolve_local(vol(pv="other"), rules, "n1")
    assert missing.path is None
    assert "not a directory" in missing.how
    hp = str(tmp_path / "hp")
    assert resolve_local(vol(host_path=hp, node="n1"), [], "n1").path == Path(hp)
    assert resolve_local(vol(host_path=hp), [], "n1").path == Path(hp)  # node unknown: single-node clusters
    elsewhere = resolve_local(vol(host_path=hp, node="n2"), [], "n1")
    assert elsewhere.path is None
    assert "on node n2" in elsewhere.how
    nothing = resolve_local(vol(), [], "n1")
    assert nothing.path is None
    assert "no --volume-path-map rule matches" in nothing.how


# -- hooks --------------------------------------------------------------------------------------


PRE = "pre.hook.backup.drkit.io/"


class FakeExec:
    def __init__(
        self,
        codes: dict[tuple[str, str], int] | None = None,
        broken: set[str] | None = None,
        timeline: list[str] | None = None,
    ) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...], float]] = []
        self.codes = codes or {}
        self.broken = broken or set()
        self.timeline = timeline if timeline is not None else []

    def exec(
        self, namespace: str, pod: str, container: str, command: Sequence[str], timeout_s: float
    ) -> ExecResult:
        self.calls.append((pod, container, tuple(command), timeout_s))
        self.timeline.append(f"exec {command[0]}")
        if pod in self.broken:
            raise KubernetesError(f"pods/exec forbidden for {pod}")
        code = self.codes.get((pod, command[0]), 0)
        return ExecResult(code, stdout=f"ran {command[0]}", stderr=f"{command[0]} failed" if code else "")


def test_pod_hooks_parse_velero_style_annotations() -> None:
    annotations = {
        "pre.hook.backup.drkit.io/command": '["/sbin/fsfreeze", "--freeze", "/data"]',
        "pre.hook.backup.drkit.io/container": "sidecar",
        "pre.hook.backup.drkit.io/timeout": "2m",
        "pre.hook.backup.drkit.io/on-error": "Continue",
        "post.hook.backup.drkit.io/command": "sync",
    }
    pre, post = pod_hooks(pod("a", "p", "d", annotations=annotations))
    assert pre == Hook("pre", "a", "p", "sidecar", ("/sbin/fsfreeze", "--freeze", "/data"), 120.0, "Continue")
    assert post == Hook("post", "a", "p", "app", ("sync",), 30.0, "Fail")
    assert pod_hooks(pod("a", "p", "d")) == []


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({f"{PRE}command": "[1, 2]"}, "array of strings"),
        ({f"{PRE}command": "[oops"}, "not a JSON array"),
        ({f"{PRE}command": '["x"]', f"{PRE}container": "db"}, "no container 'db'"),
        ({f"{PRE}command": '["x"]', f"{PRE}on-error": "Ignore"}, "Fail or Continue"),
        ({f"{PRE}command": '["x"]', f"{PRE}timeout": "soon"}, "timeout"),
        ({"post.hook.backup.drkit.io/timeout": "5s"}, "is missing"),
    ],
)  # fmt: skip
def test_pod_hooks_refuse_malformed_annotations_naming_pod_and_annotation(
    annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        pod_hooks(pod("a", "p", "d", annotations=annotations))
    assert "pod a/p" in str(info.value)


def test_parse_command_accepts_one_word() -> None:
    assert parse_command("sync", "w") == ("sync",)


def test_claim_pods_are_the_running_mounters_sorted() -> None:
    pods = [pod("a", "z", "d"), pod("a", "b", "d"), pod("a", "c", "other"), pod("x", "e", "d")]
    pods.append(pod("a", "d", "d", phase="Pending"))
    assert [p["metadata"]["name"] for p in claim_pods(pods, "a", "d")] == ["b", "z"]


def hooks_of(*specs: tuple[str, str, str, str]) -> list[Hook]:
    return [Hook(phase, "a", p, "app", (cmd,), 5.0, on_error) for phase, p, cmd, on_error in specs]


def test_hooks_run_pre_then_capture_then_post() -> None:
    order: list[str] = []
    fake = FakeExec()
    hooks = hooks_of(
        ("pre", "p1", "freeze", "Fail"), ("pre", "p2", "flush", "Fail"), ("post", "p1", "thaw", "Fail")
    )
    run = run_around(hooks, fake, lambda: order.append("capture"))
    assert [c[2][0] for c in fake.calls] == ["freeze", "flush", "thaw"]
    assert order == ["capture"]
    assert run.failed == ""
    assert [r["phase"] for r in run.records()] == ["pre", "pre", "post"]
    assert run.records()[0]["output"] == "ran freeze"


def test_a_failing_fail_pre_hook_skips_the_capture_but_still_thaws() -> None:
    order: list[str] = []
    fake = FakeExec(codes={("p1", "flush"): 3})
    hooks = hooks_of(
        ("pre", "p1", "freeze", "Fail"), ("pre", "p1", "flush", "Fail"), ("pre", "p2", "other", "Fail"),
        ("post", "p1", "thaw", "Fail"), ("post", "p2", "p2-post", "Fail"), ("post", "p3", "p3-post", "Fail"),
    )  # fmt: skip
    run = run_around(hooks, fake, lambda: order.append("capture"))
    assert order == []
    # p2's pre hooks never started, so its post hook is not run; p3 has only a post hook
    assert [c[2][0] for c in fake.calls] == ["freeze", "flush", "thaw", "p3-post"]
    # what the command wrote to stderr is in the error: the operator's first clue
    assert run.failed == "pre hook in a/p1[app] failed: exit code 3: flush failed"


def test_a_continue_pre_hook_failure_is_recorded_and_the_capture_goes_on() -> None:
    order: list[str] = []
    fake = FakeExec(broken={"p1"})
    run = run_around(hooks_of(("pre", "p1", "freeze", "Continue")), fake, lambda: order.append("capture"))
    assert order == ["capture"]
    assert run.failed == ""
    (rec,) = run.records()
    assert (rec["ok"], rec["exitCode"]) == (False, None)
    assert "forbidden" in rec["error"]


def test_post_hooks_run_when_the_capture_raises_and_a_failing_post_hook_fails_the_volume() -> None:
    fake = FakeExec(codes={("p1", "thaw"): 1})
    hooks = hooks_of(("pre", "p1", "freeze", "Fail"), ("post", "p1", "thaw", "Fail"))

    def boom() -> None:
        raise ConfigError("capture broke")

    with pytest.raises(ConfigError, match="capture broke"):
        run_around(hooks, fake, boom)
    assert [c[2][0] for c in fake.calls] == ["freeze", "thaw"]
    run = run_around(hooks, FakeExec(codes={("p1", "thaw"): 1}), lambda: None)
    assert run.failed == "post hook in a/p1[app] failed: exit code 1: thaw failed"


# -- the volume step: local mode into a real repository ------------------------------------------

PASSWORD = "unit test passphrase for volumes"


def _ahead() -> datetime:
    # Snapshot start times are whole seconds, and a file whose ctime is not older than its parent
    # snapshot's start minus PARENT_MARGIN_NS is read again (it may have changed within that
    # window). Running the repository's clock the margin plus two seconds ahead makes the test's
    # fresh files "older" without sleeping, whatever fraction of a second the test starts at.
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


def test_local_capture_stores_each_volume_with_its_stats_and_hooks(repo: Repository, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "sub").mkdir(parents=True)
    (one / "a.txt").write_text("alpha\n")
    (one / "sub" / "b.bin").write_bytes(bytes(range(256)) * 400)
    two.mkdir()
    (two / "c.txt").write_text("gamma\n")
    hook = Hook("pre", "shop", "db-0", "db", ("sync",))
    selected = Selected(
        [VolumeInfo("shop", "data", "pv-1", hooks=(hook,)), VolumeInfo("shop", "logs", "pv-2"),
         VolumeInfo("shop", "lost", "pv-3")],
        {"shop/pending": "not Bound (phase Pending)"},
    )  # fmt: skip
    options = VolumeOptions(
        VolumeSelection.parse("all"),
        path_rules=(PathRule.parse(f"pv-1={one}"), PathRule.parse(f"shop/logs={two}")),
        node_name="n1",
    )
    fake = FakeExec()
    messages: list[str] = []
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(snap, selected, options, run="r1", executor=fake, notify=messages.append)
        snap.set_meta({"volumes": capture.to_record(options.selection, options.mover)})
    data, logs, lost = capture.outcomes
    assert (data.ok, data.files, data.bytes) == (True, 2, 6 + 256 * 400)
    assert data.new_bytes > 0
    assert (logs.ok, logs.files, logs.bytes) == (True, 1, 6)
    assert not lost.ok
    assert "no --volume-path-map rule matches" in lost.error
    assert capture.partial
    assert [c[2] for c in fake.calls] == [("sync",)]
    assert messages[0].startswith("volume shop/data: 2 files")
    reader = repo.snapshot_reader("latest")
    assert reader.read_bytes("volumes/shop/data/sub/b.bin") == bytes(range(256)) * 400
    assert reader.read_bytes("volumes/shop/logs/c.txt") == b"gamma\n"
    meta = reader.meta["volumes"]
    assert meta["run"] == "r1"
    assert meta["skipped"] == {"shop/pending": "not Bound (phase Pending)"}
    assert [v["status"] for v in meta["volumes"]] == ["ok", "ok", "failed"]
    assert meta["volumes"][0]["hooks"][0]["command"] == ["sync"]
    assert meta["files"] == 3

    # a second capture reads only what changed
    (one / "a.txt").write_text("alpha, changed\n")
    with repo.new_snapshot(kind="cluster") as snap2:
        again = capture_volumes(snap2, Selected(selected.volumes[:1], {}), options, run="r2", executor=fake)
    (data2,) = again.outcomes
    assert (data2.files, data2.reused_files) == (2, 1)
    assert data2.new_bytes < 4096


def test_a_failing_pre_hook_leaves_the_volume_out(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    hooks = (Hook("pre", "shop", "db-0", "db", ("freeze",)), Hook("post", "shop", "db-0", "db", ("thaw",)))
    selected = Selected([VolumeInfo("shop", "data", "pv-1", hooks=hooks)], {})
    options = VolumeOptions(VolumeSelection.parse("all"), path_rules=(PathRule.parse(f"*={tmp_path}/d"),))
    fake = FakeExec(codes={("db-0", "freeze"): 1})
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(snap, selected, options, executor=fake)
    (out,) = capture.outcomes
    assert not out.ok
    assert "pre hook in shop/db-0[db] failed" in out.error
    assert [c[2] for c in fake.calls] == [("freeze",), ("thaw",)]
    assert snap.snapshot is not None
    assert snap.snapshot.stats.files == 0


def test_hooks_are_skipped_when_disabled_and_a_malformed_hook_fails_its_volume(
    repo: Repository, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    hook = Hook("pre", "shop", "db-0", "db", ("freeze",))
    selected = Selected(
        [
            VolumeInfo("shop", "data", "pv-1", hooks=(hook,)),
            VolumeInfo("shop", "bad", "pv-2", hook_error="bad hook"),
        ],
        {},
    )
    options = VolumeOptions(
        VolumeSelection.parse("all"), path_rules=(PathRule.parse(f"*={tmp_path}/d"),), run_hooks=False
    )
    fake = FakeExec()
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(snap, selected, options, executor=fake)
    assert fake.calls == []
    assert [(o.ok, o.error) for o in capture.outcomes] == [(True, ""), (False, "bad hook")]


# -- the volume step: job mode through a fake MoverCluster ----------------------------------------


class FakeMovers:
    """drkit's MoverCluster interface in memory: records what was created and finishes Jobs as told."""

    def __init__(self, *, state: str = "Complete", message: str | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.state = state
        self.message = message
        self.events: list[str] = []

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.created.append(manifest)
        self.events.append(f"create {manifest['kind']}")
        return manifest

    def delete(self, manifest: dict[str, Any]) -> None:
        self.deleted.append(manifest["kind"])
        self.events.append(f"delete {manifest['kind']}")

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any]:
        self.events.append("wait Job")
        return {"status": {"conditions": [{"type": self.state, "status": "True"}]}}

    def job_messages(self, namespace: str, name: str) -> list[str]:
        return [self.message] if self.message else []

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        self.events.append("wait VolumeSnapshot")


def job_options(**settings: Any) -> VolumeOptions:
    return VolumeOptions(VolumeSelection.parse("all"), mover="job", settings=MoverSettings(**settings))


def test_job_mode_records_the_result_of_the_termination_message(repo: Repository) -> None:
    message = result_text({"op": "backup", "snapshot": "abc123", "files": 4, "bytes": 99, "newBytes": 9})
    movers = FakeMovers(message="some log line\n" + message)
    hook = Hook("pre", "shop", "db-0", "db", ("freeze",))
    fake = FakeExec()
    volume = VolumeInfo("shop", "data", "pv-1", access_modes=("ReadWriteOnce",), node="n3", hooks=(hook,))
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap, Selected([volume], {}), job_options(), run="r9", cluster=movers, executor=fake
        )
    (out,) = capture.outcomes
    assert out.ok, out.error
    assert (out.snapshot, out.files, out.bytes, out.new_bytes) == ("abc123", 4, 99, 9)
    (job,) = movers.created
    assert job["metadata"]["name"] == out.job
    assert job["metadata"]["labels"][LABEL_SNAPSHOT] == "r9"
    rec = out.to_record()
    assert (rec["mode"], rec["snapshot"], rec["result"]["files"], rec["path"]) == ("job", "abc123", 4, None)
    assert fake.calls[0][2] == ("freeze",)


def test_job_mode_reads_the_result_from_the_repository_when_the_message_is_lost(
    repo: Repository, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("data")
    with repo.new_snapshot(kind="volume", host="pvc:shop/data", tags=(f"{LABEL_SNAPSHOT}=r5",)) as mover_snap:
        mover_snap.add_directory("volumes/shop/data", tmp_path / "src")
    assert mover_snap.snapshot is not None
    volume = VolumeInfo("shop", "data", "pv-1")
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap, Selected([volume], {}), job_options(), run="r5", cluster=FakeMovers(), repo=repo
        )
    (out,) = capture.outcomes
    assert out.ok, out.error
    assert out.snapshot == mover_snap.snapshot.id
    assert (out.files, out.result["from"]) == (1, "repository")


def test_job_mode_failures_are_per_volume(repo: Repository) -> None:
    volume = VolumeInfo("shop", "data", "pv-1")
    failed = FakeMovers(state="Failed", message=result_text({"op": "backup", "error": "wrong passphrase"}))
    silent = FakeMovers()
    with repo.new_snapshot(kind="cluster") as snap:
        one = capture_volumes(snap, Selected([volume], {}), job_options(), cluster=failed)
        two = capture_volumes(snap, Selected([volume], {}), job_options(), cluster=silent)
    assert "failed: wrong passphrase" in one.outcomes[0].error
    assert "completed without a result" in two.outcomes[0].error


def test_a_mover_that_crashed_before_its_result_is_reported_with_what_its_pod_said(repo: Repository) -> None:
    """A crash (a traceback, a wrong image) leaves the log as the termination message: the error
    shows its end, not only "see the logs"."""
    volume = VolumeInfo("shop", "data", "pv-1")
    crash = "Traceback (most recent call last):\n" + "  x\n" * 400 + "PermissionError: [Errno 13] /data/x"
    crashed = FakeMovers(state="Failed", message=crash)
    quiet = FakeMovers(state="Failed", message="")
    with repo.new_snapshot(kind="cluster") as snap:
        one = capture_volumes(snap, Selected([volume], {}), job_options(), cluster=crashed)
        two = capture_volumes(snap, Selected([volume], {}), job_options(), cluster=quiet)
    error = one.outcomes[0].error
    assert "its pod said:" in error
    assert error.endswith("PermissionError: [Errno 13] /data/x")
    assert len(error) < 800  # the end of it, not the whole log
    assert "left no message" in two.outcomes[0].error
    with pytest.raises(KubernetesError, match="PermissionError"):
        run_restore_job(crashed, MoverTarget("shop", "data"), "s1", MoverSettings())


def test_job_mode_with_a_snapshot_class_backs_up_a_clone_and_cleans_up(repo: Repository) -> None:
    hook = Hook("pre", "shop", "db-0", "db", ("freeze",))
    volume = VolumeInfo(
        "shop", "data", "pv-1", access_modes=("ReadWriteOnce",), node="n3", capacity="5Gi",
        csi_driver="ebs.csi.aws.com", snapshot_class="snap", hooks=(hook,),
    )  # fmt: skip
    thaw = Hook("post", "shop", "db-0", "db", ("thaw",))
    volume = replace(volume, hooks=(hook, thaw))
    movers = FakeMovers(message=result_text({"op": "backup", "snapshot": "s1"}))
    fake = FakeExec(timeline=movers.events)  # one timeline of exec and API calls
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap, Selected([volume], {}), job_options(snapshot_class="snap"), cluster=movers, executor=fake
        )
    assert capture.outcomes[0].ok, capture.outcomes[0].error
    # frozen only until the snapshot is ready; the copy runs from the clone afterwards
    assert movers.events == [
        "exec freeze", "create VolumeSnapshot", "wait VolumeSnapshot", "exec thaw",
        "create PersistentVolumeClaim", "create Job", "wait Job",
        "delete PersistentVolumeClaim", "delete VolumeSnapshot",
    ]  # fmt: skip
    assert [c["kind"] for c in movers.created] == ["VolumeSnapshot", "PersistentVolumeClaim", "Job"]
    vs, clone, job = movers.created
    assert clone["spec"]["dataSource"]["name"] == vs["metadata"]["name"]
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == clone["metadata"]["name"]
    assert "affinity" not in pod_spec  # a clone is not attached anywhere yet


def test_collection_paths_and_job_states() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"namespace": "a"}}
    assert collection_path(job) == "/apis/batch/v1/namespaces/a/jobs"
    with pytest.raises(ConfigError):
        collection_path({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a"}})
    assert job_finished({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "Failed"
    assert job_finished({"status": {"conditions": [{"type": "Complete", "status": "False"}]}}) is None
    assert job_finished({}) is None


def test_volume_options_refuse_an_unknown_mover() -> None:
    with pytest.raises(ConfigError, match="local or job"):
        VolumeOptions(mover="rsync")


def test_records_are_json() -> None:
    info = VolumeInfo("a", "b", "c", hooks=(Hook("pre", "a", "p", "c", ("x",)),))
    assert json.loads(json.dumps(info.to_record()))["pvc"] == "b"


def test_restore_volume_creates_the_claim_then_runs_the_job() -> None:
    record = VolumeInfo("shop", "data", "pv-1", access_modes=("ReadWriteOnce",), capacity="5Gi").to_record()
    target = target_from_record(record)
    movers = FakeMovers(message=result_text({"op": "restore", "snapshot": "s1", "files": 7}))
    result = restore_volume(movers, target, "s1", MoverSettings())
    assert result["files"] == 7
    assert movers.events == ["create PersistentVolumeClaim", "create Job", "wait Job"]
    pvc_manifest, job = movers.created
    assert pvc_manifest["metadata"] == {
        "name": "data",
        "namespace": "shop",
        "labels": job["metadata"]["labels"],
    }
    failed = FakeMovers(state="Failed", message=result_text({"op": "restore", "error": "no such snapshot"}))
    with pytest.raises(KubernetesError, match="no such snapshot"):
        restore_volume(failed, target, "s1", MoverSettings())
    with pytest.raises(ConfigError, match="lacks"):
        target_from_record({"namespace": "a"})


def test_job_mode_without_a_snapshot_class_keeps_the_hooks_around_the_whole_job(repo: Repository) -> None:
    hooks = (Hook("pre", "shop", "db-0", "db", ("freeze",)), Hook("post", "shop", "db-0", "db", ("thaw",)))
    volume = VolumeInfo("shop", "data", "pv-1", hooks=hooks)
    movers = FakeMovers(message=result_text({"op": "backup", "snapshot": "s1"}))
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap,
            Selected([volume], {}),
            job_options(),
            cluster=movers,
            executor=FakeExec(timeline=movers.events),
        )
    assert capture.outcomes[0].ok
    assert movers.events == ["exec freeze", "create Job", "wait Job", "exec thaw"]
    csi = replace(volume, snapshot_class="snap", capacity="1Gi")
    failing = FakeMovers()
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap,
            Selected([csi], {}),
            job_options(snapshot_class="snap"),
            cluster=failing,
            executor=FakeExec(codes={("db-0", "freeze"): 1}),
        )
    assert "pre hook" in capture.outcomes[0].error
    assert failing.created == []  # no snapshot of an application that is not frozen


def test_velero_hook_annotations_are_understood_unless_drkit_ones_are_present() -> None:
    velero = {
        "pre.hook.backup.velero.io/command": '["/bin/sh", "-c", "pg_dump > /data/dump.sql"]',
        "pre.hook.backup.velero.io/timeout": "3m",
        "post.hook.backup.velero.io/command": '["rm", "/data/dump.sql"]',
    }
    pre, post = pod_hooks(pod("a", "p", "d", annotations=velero))
    assert (pre.command[0], pre.timeout_s, post.command) == ("/bin/sh", 180.0, ("rm", "/data/dump.sql"))
    both = velero | {f"{PRE}command": '["sync"]'}
    pre2, post2 = pod_hooks(pod("a", "p", "d", annotations=both))
    assert (pre2.command, pre2.timeout_s) == (("sync",), 30.0)  # drkit's pre set wins as a whole
    assert post2.command == ("rm", "/data/dump.sql")


class FakeLists:
    """drkit's KubeClient interface for GETs only: lists by path, some paths forbidden or missing."""

    def __init__(self, lists: dict[str, list[Any]], objects: dict[str, Any], denied: set[str]) -> None:
        self.lists, self.objects, self.denied = lists, objects, denied
        self.paths: list[str] = []

    def get_json(self, path: str, query: dict[str, str] | None = None, **_: Any) -> Any:
        self.paths.append(path)
        if path in self.denied:
            raise api_error("GET", path, 403, b"{}")
        if path in self.objects:
            return self.objects[path]
        if path not in self.lists:
            raise api_error("GET", path, 404, b"{}")
        return {"metadata": {}, "items": self.lists[path]}


def test_discover_volumes_in_named_namespaces_with_namespaced_permissions() -> None:
    fake = FakeLists(
        {
            "/api/v1/namespaces/shop/persistentvolumeclaims": [pvc("shop", "data", "pv-1")],
            "/api/v1/namespaces/shop/pods": [pod("shop", "db-0", "data", node="n4")],
        },
        {"/api/v1/persistentvolumes/pv-1": pv("pv-1", host_path="/srv/d")},
        denied={"/api/v1/persistentvolumes", "/apis/storage.k8s.io/v1/volumeattachments"},
    )
    options = VolumeOptions(VolumeSelection.parse("all"))
    selected = discover_volumes(
        cast(KubeClient, fake), options, lambda ns: ns in ("shop", "gone"), namespaces=["shop", "gone"]
    )
    (volume,) = selected.volumes
    assert (volume.key, volume.pv, volume.node, volume.host_path) == ("shop/data", "pv-1", "n4", "/srv/d")
    assert "/api/v1/persistentvolumeclaims" not in fake.paths  # never a cluster-wide list
    assert "/api/v1/namespaces/gone/persistentvolumeclaims" in fake.paths
    assert discover_volumes(cast(KubeClient, fake), VolumeOptions(), lambda ns: True) == Selected([], {})


def test_backup_run_volume_options() -> None:
    import click

    from drkit.cli.backup import _volume_options

    assert (
        _volume_options("none", (), "local", None, None, "drkit-repo", None, None, False, None, False) is None
    )
    with pytest.raises(click.UsageError, match="need --volumes"):
        _volume_options("none", ("*=/x",), "local", None, None, "drkit-repo", None, None, False, None, False)
    opts = _volume_options(
        "app=db", ("*=local-path",), "job", "snap", "registry/drkit:dev", "repo-secret", 1000, 2000, False,
        "node-7", True, "90m",
    )  # fmt: skip
    assert opts is not None
    assert (opts.selection.selector, opts.mover, opts.node_name, opts.run_hooks) == (
        "app=db",
        "job",
        "node-7",
        False,
    )
    assert opts.path_rules[0].template == "/opt/local-path-provisioner/{pv}_{namespace}_{pvc}"
    s = opts.settings
    assert (s.image, s.secret, s.run_as_user, s.run_as_group, s.fs_group, s.snapshot_class) == (
        "registry/drkit:dev", "repo-secret", 1000, 1000, 2000, "snap",
    )  # fmt: skip
    assert opts.job_timeout_s == 5400


def test_unreadable_entries_are_data_the_snapshot_lacks_special_and_vanished_ones_are_not() -> None:
    from drkit.repo.engine.backup import unreadable

    skipped = [
        "db: cannot list directory: Permission denied",
        "db/table: cannot open: Permission denied",
        "big: read error: Input/output error",
        "sock: special file skipped (socket)",
        "tmp/x: cannot open: No such file or directory",  # deleted during the walk: normal for live data
        "a: user.* xattrs unreadable (entry kept without them)",
    ]
    assert unreadable(skipped) == skipped[:3]


def test_a_job_mode_volume_the_mover_could_not_read_fails_with_the_remedy(repo: Repository) -> None:
    """Found on a real node: a mover running as uid 65532 over a 0700 directory of uid 1000 captured
    "0 files" and the volume was reported ok. The snapshot lacks data: the volume fails (partial)."""
    volume = VolumeInfo("shop", "data", "pv-1")
    first = ["db: cannot list directory: Permission denied", "x: cannot open: Permission denied"]
    result = {"op": "backup", "snapshot": "ab" * 32, "files": 0, "unreadableCount": 2, "unreadable": first}
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(
            snap, Selected([volume], {}), job_options(), cluster=FakeMovers(message=result_text(result))
        )
    (out,) = capture.outcomes
    assert not out.ok
    assert "2 entries could not be read (snapshot abababab holds the rest)" in out.error
    assert "db: cannot list directory: Permission denied" in out.error
    assert capture.partial


def test_a_local_volume_with_an_unreadable_directory_fails(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "vol"
    (source / "private").mkdir(parents=True)
    (source / "a.txt").write_text("a\n")
    import drkit.repo.engine.backup as walker

    real_scandir = walker.os.scandir

    def scandir(path: Any) -> Any:
        if str(path).rstrip("/").endswith("private") or bytes(path).rstrip(b"/").endswith(b"private"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(walker.os, "scandir", scandir)
    monkeypatch.setenv("DRKIT_NO_NATIVE", "1")  # the walk lists in Python: the compiled lister has no scandir
    options = VolumeOptions(VolumeSelection.parse("all"), path_rules=(PathRule.parse(f"pv-1={source}"),))
    with repo.new_snapshot(kind="cluster") as snap:
        capture = capture_volumes(snap, Selected([VolumeInfo("shop", "data", "pv-1")], {}), options, run="r1")
    (out,) = capture.outcomes
    assert not out.ok
    assert "1 entries could not be read" in out.error
    assert "private: cannot list directory" in out.error
