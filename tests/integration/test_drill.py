"""DR drills end to end on the real control plane: a sample app in the `cluster` fixture is backed up
with `drkit backup run`, then `drkit drill run` restores it into a fresh `local` scratch cluster (its
own etcd, API server, controllers and kwok) and checks it. Teardown is checked by looking for the
drill's processes (their command lines name its temp dir) and its temp dir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.errors import ExitCode
from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane

SECRET_VALUE = "s3cr3t-drill-value-never-printed"

APP = f"""
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: settings}}
  data: {{mode: blue, greeting: hello}}
- apiVersion: v1
  kind: Secret
  metadata: {{name: db-password}}
  stringData: {{password: "{SECRET_VALUE}"}}
- apiVersion: v1
  kind: ServiceAccount
  metadata: {{name: shop}}
- apiVersion: v1
  kind: Service
  metadata: {{name: web}}
  spec:
    selector: {{app: shop}}
    ports: [{{port: 80}}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: web}}
  spec:
    replicas: 2
    selector: {{matchLabels: {{app: shop}}}}
    template:
      metadata: {{labels: {{app: shop}}}}
      spec:
        serviceAccountName: shop
        containers: [{{name: web, image: nginx}}]
"""
COLLECTIONS = {
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
}


def checks(ns: str) -> list[dict[str, Any]]:
    return [
        {"exists": {"kind": "Deployment", "name": "web", "namespace": ns}},
        {"exists": {"kind": "ServiceAccount", "name": "shop", "namespace": ns}},
        {"count": {"kind": "ConfigMap", "namespace": ns, "min": 1}},
        {"available": {"kind": "Deployment", "name": "web", "namespace": ns}, "timeout": "2m"},
        {"configmapEquals": {"name": "settings", "namespace": ns}},
        {"secretEquals": {"name": "db-password", "namespace": ns}},
        {"httpProbe": {"namespace": ns, "service": "web", "port": 80}},
        {"command": {"run": ["sh", "-c", 'test -s "$KUBECONFIG"']}, "name": "kubeconfig given"},
    ]


def write_plan(path: Path, ns: str, items: list[dict[str, Any]], **spec: Any) -> Path:
    doc = {
        "apiVersion": "drkit.io/v1",
        "kind": "RestorePlan",
        "metadata": {"name": "shop-drill"},
        "spec": {
            "snapshot": "latest",
            "target": {"scratch": True},
            "scope": {"includeNamespaces": [ns], "includeClusterResources": False},
            "existingPolicy": "fail",
            **spec,
            "checks": items,
        },
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.scratch_tmp = tmp / "scratch-tmp"
        self.scratch_tmp.mkdir()
        self.env = {
            **os.environ,
            "DRKIT_REPO": str(tmp / "repo"),
            "DRKIT_PASSWORD": "a passphrase for the drill test",
            "DRKIT_SCRYPT_N": "1024",
            "TMPDIR": str(self.scratch_tmp),  # the drill's temp dirs, checked empty afterwards
        }
        assert self.run("repo", "init").returncode == 0

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "drkit", *args]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=env or self.env, check=False, timeout=900
        )


def delete_namespace(cluster: ControlPlane, name: str) -> None:
    try:
        cluster.api("DELETE", f"/api/v1/namespaces/{name}")
    except http.HTTPStatusError as exc:
        if exc.status != 404:
            raise


def drill_processes(drill_id: str) -> list[int]:
    """Processes whose command line names the drill's temp dir (every component of its cluster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"drkit-drill-{drill_id}".encode() in cmdline:
            found.append(int(entry.name))
    return found


def assert_torn_down(drkit: Drkit, drill_id: str) -> None:
    assert drill_id
    assert drill_processes(drill_id) == []
    assert list(drkit.scratch_tmp.iterdir()) == []


@pytest.fixture
def shop(cluster: ControlPlane, namespace: str, tmp_path: Path) -> tuple[Drkit, str]:
    for obj in yaml.safe_load(APP):
        cluster.api("POST", COLLECTIONS[obj["kind"]].format(ns=namespace), obj)
    drkit = Drkit(tmp_path)
    backup = drkit.run(
        "backup",
        "run",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--include-namespaces",
        namespace,
        "-o",
        "json",
    )
    assert backup.returncode == 0, backup.stderr
    return drkit, namespace


def test_drill_of_the_sample_app_passes_reports_rto_and_is_recorded(
    shop: tuple[Drkit, str], tmp_path: Path
) -> None:
    drkit, ns = shop
    plan = write_plan(tmp_path / "plan.yaml", ns, checks(ns))
    reports, junit = tmp_path / "reports", tmp_path / "junit" / "drill.xml"
    done = drkit.run(
        "drill", "run", str(plan), "--provider", "local", "--report-dir", str(reports), "--junit", str(junit),
        "-o", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert SECRET_VALUE not in done.stdout + done.stderr
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses.pop(f"httpProbe {ns}/web:80/") == "skip"  # kwok: no endpoint behind the Service
    assert set(statuses.values()) == {"pass"}, result["checks"]
    assert len(statuses) == 7
    assert [p["name"] for p in result["phases"]] == ["cluster-up", "restore", "ready", "checks", "teardown"]
    assert result["rtoS"] == pytest.approx(sum(p["durationS"] for p in result["phases"][:4]), abs=0.01)
    assert result["rpoS"] > 0
    assert result["restore"]["ok"]
    assert result["restore"]["applied"] >= 6

    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    names = {c.get("name") for c in suite.iter("testcase")}
    assert f"configmapEquals {ns}/settings" in names
    assert "local scratch cluster up" in names
    drill_id = result["id"]
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        f"drill-{drill_id}{s}" for s in (".json", ".xml", ".md", ".html")
    )
    assert SECRET_VALUE not in "".join(p.read_text() for p in reports.iterdir())
    assert_torn_down(drkit, drill_id)

    listed = drkit.run("drill", "report", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert [d["id"] for d in report["drills"]] == [drill_id]
    assert report["newestProven"]["snapshot"] == result["snapshot"]
    text = drkit.run("drill", "report").stdout
    assert "newest backup proven restorable: snapshot " + result["snapshot"][:8] in text
    # the drill record does not become the "latest" snapshot a restore plan picks
    again = drkit.run("drill", "run", str(plan), "--no-store", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["snapshot"] == result["snapshot"]
    # each drill run is in the audit log, with the snapshot it restored
    audited = drkit.run("audit", "--action", "drill", "-o", "json")
    assert audited.returncode == 0, audited.stderr
    records = json.loads(audited.stdout)["records"]
    assert [(r["command"], r["result"]) for r in records] == [("drill run", "ok"), ("drill run", "ok")]
    assert records[0]["detail"]["snapshot"] == result["snapshot"]
    assert records[0]["detail"]["drill"] == drill_id


def test_drill_fails_naming_the_missing_object_and_the_changed_configmap(
    cluster: ControlPlane, shop: tuple[Drkit, str], tmp_path: Path
) -> None:
    drkit, ns = shop
    # made after the backup: the snapshot lacks it
    cluster.api(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "late"}, "data": {"a": "b"}}
    )
    items: list[dict[str, Any]] = [
        {"exists": {"kind": "ConfigMap", "name": "late", "namespace": ns}, "timeout": "3s"},
        {"configmapEquals": {"name": "settings", "namespace": ns}, "timeout": "3s"},
        {"secretEquals": {"name": "db-password", "namespace": ns}},
    ]
    # a modifier that changes the restored ConfigMap, as a bad plan would
    modifiers = [{"kinds": ["ConfigMap"], "names": ["settings"], "mergePatch": {"data": {"mode": "red"}}}]
    plan = write_plan(tmp_path / "plan.yaml", ns, items, modifiers=modifiers)
    reports = tmp_path / "reports"
    done = drkit.run("drill", "run", str(plan), "--report-dir", str(reports), "-o", "json")
    assert done.returncode == ExitCode.DRILL_FAILED, done.stdout + done.stderr
    result = json.loads(done.stdout)
    failed = {c["name"]: c["message"] for c in result["checks"] if c["status"] == "fail"}
    assert set(failed) == {f"exists ConfigMap {ns}/late", f"configmapEquals {ns}/settings"}
    assert "does not exist" in failed[f"exists ConfigMap {ns}/late"]
    assert "different values for keys ['mode']" in failed[f"configmapEquals {ns}/settings"]
    assert f"exists ConfigMap {ns}/late" in done.stderr  # the exit message names the failed checks
    junit = ET.parse(reports / f"drill-{result['id']}.xml").getroot()  # noqa: S314
    failures = {c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None}
    assert failures == set(failed)
    markdown = (reports / f"drill-{result['id']}.md").read_text()
    assert "FAILED" in markdown
    assert f"| FAIL | configmapEquals {ns}/settings |" in markdown
    assert_torn_down(drkit, result["id"])
    report = json.loads(drkit.run("drill", "report", "-o", "json").stdout)
    assert report["newestProven"] is None
    assert report["drills"][-1]["failedChecks"] == sorted(failed, key=list(failed).index)


@pytest.mark.parametrize("phase", ["cluster-up", "checks"])
def test_ctrl_c_during_a_drill_tears_everything_down(
    shop: tuple[Drkit, str], tmp_path: Path, phase: str
) -> None:
    """SIGINT while the scratch cluster starts, and while a check runs: nothing is left behind."""
    drkit, ns = shop
    items = [{"command": {"run": ["sleep", "300"]}, "timeout": "10m"}]
    plan = write_plan(tmp_path / "plan.yaml", ns, items)
    proc = subprocess.Popen(
        drkit.argv("drill", "run", str(plan), "--no-store"),
        env=drkit.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    drill_id = ""
    for line in proc.stderr:  # "drill <id>: <phase>" lines, one per phase
        seen.append(line)
        if line.endswith(f": {phase}\n"):
            drill_id = line.split()[1].rstrip(":")
            break
    assert drill_id, "".join(seen)
    if phase == "checks":
        assert drill_processes(drill_id), "the scratch cluster should be running now"
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED, rest
    assert_torn_down(drkit, drill_id)


def test_kind_provider_runs_kind_and_restores_into_the_cluster_it_reports(
    cluster: ControlPlane, shop: tuple[Drkit, str], tmp_path: Path
) -> None:
    """A stand-in `kind` on PATH records its argv and, for `create`, writes a kubeconfig of the real
    `cluster` fixture; the plan maps the namespace so that the restore lands beside the original."""
    drkit, ns = shop
    bin_dir, record = tmp_path / "bin", tmp_path / "kind-calls.jsonl"
    bin_dir.mkdir()
    kind = bin_dir / "kind"
    kind.write_text(
        f"#!{sys.executable}\n"
        "import json, shutil, sys\n"
        f"with open({str(record)!r}, 'a') as f: f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[1:]\n"
        "if args[:2] == ['create', 'cluster']:\n"
        "    cfg = open(args[args.index('--config') + 1]).read()\n"
        "    assert 'kind.x-k8s.io/v1alpha4' in cfg, cfg\n"
        f"    shutil.copy({str(cluster.kubeconfig)!r}, args[args.index('--kubeconfig') + 1])\n"
    )
    kind.chmod(0o755)
    target = f"{ns}-kind"
    plan = write_plan(
        tmp_path / "plan.yaml",
        ns,
        [{"configmapEquals": {"name": "settings", "namespace": ns}}],
        namespaceMapping={ns: target},
    )
    env = {**drkit.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    try:
        done = drkit.run("drill", "run", str(plan), "--provider", "kind", "-o", "json", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert [c["status"] for c in result["checks"]] == ["pass"]
        assert (
            cluster.api("GET", f"/api/v1/namespaces/{target}/configmaps/settings")["data"]["mode"] == "blue"
        )
    finally:
        delete_namespace(cluster, target)
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    name = f"drkit-drill-{result['id']}"
    assert [c[:2] for c in calls] == [["create", "cluster"], ["delete", "cluster"]]
    create, delete = calls
    assert create[create.index("--name") + 1] == name
    assert delete[delete.index("--name") + 1] == name
    assert "--wait" in create
    assert "--kubeconfig" in delete
    assert list(drkit.scratch_tmp.iterdir()) == []


def test_the_daemon_hook_runs_a_scheduled_drill_and_records_it(
    shop: tuple[Drkit, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.config.schedule import load_schedule
    from drkit.drill.scheduled import run_scheduled_drill

    drkit, ns = shop
    password = tmp_path / "password"
    password.write_text(drkit.env["DRKIT_PASSWORD"])
    schedule_file = tmp_path / "schedule.yaml"
    schedule_file.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drkit.io/v1",
                "kind": "Schedule",
                "metadata": {"name": "nightly"},
                "spec": {
                    "cron": "0 2 * * *",
                    "repository": {"url": drkit.env["DRKIT_REPO"], "passwordFile": str(password)},
                    "drill": {"cron": "0 6 * * *", "plan": str(tmp_path / "plan.yaml")},
                },
            }
        )
    )
    schedule = load_schedule(schedule_file)
    assert schedule.drill is not None
    write_plan(schedule.drill.plan, ns, [{"configmapEquals": {"name": "settings", "namespace": ns}}])
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    monkeypatch.delenv("DRKIT_DRILL_PROVIDER", raising=False)
    outcome = run_scheduled_drill(schedule, schedule.drill.plan)
    assert outcome.ok, outcome
    assert outcome.rto_seconds is not None
    assert outcome.rto_seconds > 0
    assert outcome.details["checks"] == {"pass": 1, "fail": 0, "skip": 0}
    assert drill_processes(outcome.details["id"]) == []
    report = json.loads(drkit.run("drill", "report", "-o", "json").stdout)
    assert report["newestProven"]["drill"] == outcome.details["record"]
    broken = run_scheduled_drill(schedule, tmp_path / "missing.yaml")
    assert not broken.ok
    assert "missing.yaml" in (broken.error or "")


def test_etcd_provider_boots_an_api_server_on_the_restored_etcd_and_checks_it(
    cluster: ControlPlane, shop: tuple[Drkit, str], tmp_path: Path
) -> None:
    """The snapshot's etcd (HashKV proven by the restore) serves the app to the drill's checks."""
    drkit, ns = shop
    backup = drkit.run(
        "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", ns,
        "--etcd-endpoints", cluster.etcd.endpoint, "-o", "json",
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    plan = write_plan(
        tmp_path / "plan.yaml",
        ns,
        [
            {"exists": {"kind": "Deployment", "name": "web", "namespace": ns}},
            {"configmapEquals": {"name": "settings", "namespace": ns}},
            {"secretEquals": {"name": "db-password", "namespace": ns}},
            {"count": {"kind": "Namespace", "min": 2}},
        ],
        restore={"resources": False, "etcd": True},
    )
    done = drkit.run("drill", "run", str(plan), "--provider", "etcd", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert [c["status"] for c in result["checks"]] == ["pass"] * 4
    assert result["snapshot"] == json.loads(backup.stdout)["id"]
    assert result["cluster"]["etcd"]["hashKVVerified"] is True
    assert result["cluster"]["etcd"]["restoredRevision"] > result["cluster"]["etcd"]["snapshotRevision"]
    assert SECRET_VALUE not in done.stdout + done.stderr
    assert_torn_down(drkit, result["id"])

    # --keep: the table output says how to stop what it left running, and that is all there is
    from drkit.sandbox.process import stop_pid

    kept = drkit.run("drill", "run", str(plan), "--provider", "etcd", "--keep", "--no-store", "--report-dir",
                     str(tmp_path / "reports"))  # fmt: skip
    report = json.loads(next((tmp_path / "reports").glob("drill-*.json")).read_text())
    pids = report["cluster"]["pids"]
    try:
        assert kept.returncode == 0, kept.stdout + kept.stderr
        assert len(pids) == 2  # kube-apiserver and etcd
        assert f"stop it with: kill {' '.join(str(p) for p in pids)}" in kept.stdout
        assert f"then remove {report['cluster']['workdir']}" in kept.stdout
        assert sorted(drill_processes(report["id"])) == sorted(pids)
        assert "## etcd\n\n- HashKV verified: snapshot revision" in kept.stdout
    finally:
        for pid in pids:
            stop_pid(pid)
        shutil.rmtree(report["cluster"]["workdir"], ignore_errors=True)
    assert_torn_down(drkit, report["id"])


def test_keep_leaves_the_scratch_cluster_running_and_says_how_to_stop_it(
    shop: tuple[Drkit, str], tmp_path: Path
) -> None:
    from drkit.kube.apply import get
    from drkit.kube.client import KubeClient
    from drkit.sandbox.process import stop_pid

    drkit, ns = shop
    plan = write_plan(
        tmp_path / "plan.yaml", ns, [{"exists": {"kind": "ConfigMap", "name": "settings", "namespace": ns}}]
    )
    done = drkit.run("drill", "run", str(plan), "--keep", "--no-store", "-o", "json")
    result = json.loads(done.stdout)
    pids = result["cluster"]["pids"]
    try:
        assert done.returncode == 0, done.stderr
        assert result["kept"] is True
        assert "teardown" not in [p["name"] for p in result["phases"]]
        assert sorted(drill_processes(result["id"])) == sorted(pids)
        kubeconfig = Path(result["cluster"]["workdir"]) / "cluster" / "kubeconfig"
        again = drkit.run(
            "drill", "run", str(plan), "--provider", "kubeconfig", "--kubeconfig", str(kubeconfig),
            "--no-store", "-o", "json",
        )  # fmt: skip
        assert again.returncode == 0, again.stderr  # the kept cluster is usable (and takes a prefixed drill)
        prefix = json.loads(again.stdout)["cluster"]["namespacePrefix"]
        assert prefix.startswith("drill-")
        with KubeClient.from_kubeconfig(kubeconfig) as kube:  # the drill's namespace is deleted after it
            left = get(kube, f"/api/v1/namespaces/{prefix}{ns}")
            assert left is None or left["status"]["phase"] == "Terminating"
    finally:
        for pid in pids:
            stop_pid(pid)
        shutil.rmtree(result["cluster"]["workdir"], ignore_errors=True)
    assert_torn_down(drkit, result["id"])


def _claim_on_host_path(cluster: ControlPlane, ns: str, host_dir: Path) -> str:
    """A hostPath PV pre-bound to the claim ``ns/data`` (as a provisioner would make); its name."""
    pv = f"pv-drill-{ns}"
    cluster.api(
        "POST",
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(host_dir), "type": "Directory"},
                "claimRef": {"namespace": ns, "name": "data"},
            },
        },
    )
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": pv,
            },
        },
    )
    path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data"
    cluster.wait(
        lambda: (cluster.api("GET", path).get("status") or {}).get("phase") == "Bound", "claim Bound"
    )
    return pv


def test_drill_restores_volume_data_and_proves_it_by_checksum(
    cluster: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = tmp_path / "hostdir"
    (data / "orders").mkdir(parents=True)
    for i in range(5):
        (data / "orders" / f"{i}.txt").write_text(f"order {i}\n")
    (data / "blob.bin").write_bytes(os.urandom(300_000))
    pv = _claim_on_host_path(cluster, namespace, data)
    try:
        drkit = Drkit(tmp_path)
        backup = drkit.run(
            "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace,
            "--volumes", "all", "--volume-path-map", f"{pv}={data}", "-o", "json",
        )  # fmt: skip
        assert backup.returncode == 0, backup.stderr
        items = [
            {"exists": {"kind": "PersistentVolumeClaim", "name": "data", "namespace": namespace}},
            {"volumeChecksum": {"namespace": namespace, "pvc": "data", "path": "blob.bin"}},
            {"volumeChecksum": {"namespace": namespace, "pvc": "data", "path": "orders/3.txt"}},
        ]
        plan = write_plan(tmp_path / "plan.yaml", namespace, items, restore={"volumes": True})
        dry = drkit.run("restore", "plan", str(plan), "-o", "json")
        assert dry.returncode == 0, dry.stderr
        (fill,) = json.loads(dry.stdout)["volumes"]["fills"]
        assert (fill["source"], fill["target"], fill["files"]) == (
            f"{namespace}/data",
            f"{namespace}/data",
            6,
        )

        done = drkit.run("drill", "run", str(plan), "--provider", "local", "-o", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert [c["status"] for c in result["checks"]] == ["pass", "pass", "pass"], result["checks"]
        assert "equal to the snapshot's" in result["checks"][1]["message"]
        assert result["restore"]["counts"]["volumes"] == 1
        assert_torn_down(drkit, result["id"])

        # the proof is real: without the volume data the same checks fail, naming the file
        bare = write_plan(tmp_path / "bare.yaml", namespace, [{**items[1], "timeout": "2s"}])
        failed = drkit.run("drill", "run", str(bare), "--no-store", "-o", "json")
        assert failed.returncode == ExitCode.DRILL_FAILED, failed.stdout + failed.stderr
        (check,) = json.loads(failed.stdout)["checks"]
        assert check["status"] == "fail"
        assert "blob.bin is not in the restored volume data" in check["message"]
    finally:
        cluster.api("DELETE", f"/api/v1/persistentvolumes/{pv}")
