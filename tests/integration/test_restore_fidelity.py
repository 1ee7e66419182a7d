"""Restore fidelity (issue 18) on the sandbox control plane: an application with a custom resource and
its status, a Service without a selector and its hand-written EndpointSlice, a created token Secret,
a completed Job, a PriorityClass used by a CronJob, an IngressClass used by an Ingress, a
ClusterRoleBinding of its ServiceAccount, backed up with `--include-cluster-resources auto` and copied
into another namespace of the same cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane
from tests.integration.test_restore_run import Drkit, _plan_file, _wait

RBAC = "/apis/rbac.authorization.k8s.io/v1"


@dataclass
class App:
    namespace: str
    group: str  # of the custom resource
    team: str  # the namespace's label team=<team>
    drkit: Drkit
    backup: dict[str, Any]
    tmp: Path

    @property
    def crb(self) -> str:
        return f"{self.namespace}-reader"


def _crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _served(cluster: ControlPlane, path: str) -> bool:
    try:
        return cluster.exists(path)
    except http.HTTPStatusError as exc:
        if exc.status == 429:  # "storage is (re)initializing" just after the CRD became Established
            return False
        raise


def _delete(cluster: ControlPlane, path: str) -> None:
    try:
        cluster.api("DELETE", path)
    except http.HTTPStatusError as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def app(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    ns = f"fid-{uuid.uuid4().hex[:6]}"
    team = f"team-{ns}"
    group = f"{ns}.drkit.test"
    c = cluster
    c.api("POST", "/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"team": team}}})
    c.wait(lambda: c.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), "the default account")
    c.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(group))
    crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}"
    _wait(lambda: _condition(c.api("GET", crd_path), "Established"), "the CRD Established")
    widgets = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    _wait(lambda: _served(c, widgets), "the widgets served")
    c.api(
        "POST",
        widgets,
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}},
    )
    widget = c.api("GET", f"{widgets}/w1")
    widget["status"] = {"phase": "Ready", "observedSize": 3}
    c.api("PUT", f"{widgets}/w1/status", widget)
    core = f"/api/v1/namespaces/{ns}"
    c.api("POST", f"{core}/serviceaccounts", {"metadata": {"name": "ci"}})
    c.api(
        "POST",
        f"{core}/secrets",
        {
            "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.name": "ci"}},
            "type": "kubernetes.io/service-account-token",
        },
    )
    _wait(lambda: (c.api("GET", f"{core}/secrets/ci-token").get("data") or {}).get("token"), "the token")
    c.api("POST", f"{core}/services", {"metadata": {"name": "external"}, "spec": {"ports": [{"port": 80}]}})
    c.api(
        "POST",
        f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
        {
            "metadata": {"name": "external-1", "labels": {"kubernetes.io/service-name": "external"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"]}],
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    )
    c.api(
        "POST",
        f"{core}/services",
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    )
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    _wait(lambda: len(c.api("GET", slices)["items"]) >= 2, "the controller's EndpointSlice of web")
    pod = {"containers": [{"name": "run", "image": "busybox"}], "restartPolicy": "Never"}
    jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
    c.api("POST", jobs, {"metadata": {"name": "migrate"}, "spec": {"template": {"spec": pod}}})
    _wait(lambda: _condition(c.api("GET", f"{jobs}/migrate"), "Complete"), "the Job completed", 120)
    c.api(
        "POST",
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        {"metadata": {"name": f"{ns}-nightly"}, "value": 1000},
    )
    nightly = {**pod, "priorityClassName": f"{ns}-nightly"}
    c.api(
        "POST",
        f"/apis/batch/v1/namespaces/{ns}/cronjobs",
        {
            "metadata": {"name": "report"},
            "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": {"spec": nightly}}}},
        },
    )
    ghost = {"containers": [{"name": "g", "image": "busybox"}], "priorityClassName": f"{ns}-gone"}
    c.api(
        "POST",
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "ghost"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "ghost"}},
                "template": {"metadata": {"labels": {"app": "ghost"}}, "spec": ghost},
            },
        },
    )
    c.api(
        "POST",
        "/apis/networking.k8s.io/v1/ingressclasses",
        {"metadata": {"name": f"{ns}-public"}, "spec": {"controller": "example.com/ingress"}},
    )
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    c.api(
        "POST",
        f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
        {
            "metadata": {"name": "web"},
            "spec": {"ingressClassName": f"{ns}-public", "defaultBackend": backend},
        },
    )
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    c.api("POST", f"{RBAC}/clusterroles", {"metadata": {"name": f"{ns}-reader"}, "rules": rules})
    c.api(
        "POST",
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": {"name": f"{ns}-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{ns}-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}],
        },
    )
    tmp = tmp_path_factory.mktemp("fidelity")
    drkit = Drkit(tmp)
    backup = drkit.json(
        "backup", "run", "--repo", str(drkit.repo), "--kubeconfig", str(c.kubeconfig),
        "--include-namespaces", ns,
    )  # fmt: skip
    yield App(ns, group, team, drkit, backup, tmp)
    for path in (
        f"/api/v1/namespaces/{ns}",
        f"/api/v1/namespaces/{ns}-copy",
        f"/api/v1/namespaces/{ns}-jobs",
        f"{RBAC}/clusterrolebindings/{ns}-reader",
        f"{RBAC}/clusterrolebindings/{ns}-reader-{ns}-copy",
        f"{RBAC}/clusterroles/{ns}-reader",
        f"/apis/scheduling.k8s.io/v1/priorityclasses/{ns}-nightly",
        f"/apis/networking.k8s.io/v1/ingressclasses/{ns}-public",
        crd_path,
    ):
        _delete(c, path)


def _plan(app: App, cluster: ControlPlane, target_ns: str, **spec: Any) -> Path:
    spec.setdefault("waits", {"enabled": False})
    spec.setdefault("snapshot", app.backup["id"])  # later tests add backups to the repository
    return _plan_file(app.tmp, app.drkit, cluster, app.namespace, target_ns, **spec)


def test_backup_auto_follows_references_and_keeps_hand_written_endpoints(app: App) -> None:
    """Items 3 and 4: the PriorityClass of the CronJob, the IngressClass of the Ingress, the
    ClusterRoleBinding of the namespace's ServiceAccount and its ClusterRole are captured; the
    hand-written EndpointSlice is, the controller's is left out and said so."""
    resources = app.backup["meta"]["resources"]
    assert resources["errors"] == []
    counts = resources["counts"]
    assert counts["priorityclasses.scheduling.k8s.io"] == 1
    assert counts["ingressclasses.networking.k8s.io"] == 1
    assert counts["clusterrolebindings.rbac.authorization.k8s.io"] == 1
    assert counts["clusterroles.rbac.authorization.k8s.io"] == 1
    assert counts["endpointslices.discovery.k8s.io"] == 1  # external-1 only
    made = resources["controllerMade"]
    assert any(k.startswith("endpointslices.discovery.k8s.io controller-made") for k in made), made


def test_a_namespace_copy_keeps_the_original_and_restores_what_was_lost(
    app: App, cluster: ControlPlane
) -> None:
    """Items 1, 2, 4, 5, 6: the copy with existingPolicy update leaves the original's
    ClusterRoleBinding alone and binds its own ServiceAccount through a renamed copy; the hand-written
    EndpointSlice, the token Secret (filled by the controller), the Widget's status come back; the
    completed Job does not run again."""
    ns, copy = app.namespace, f"{app.namespace}-copy"
    plan = _plan(
        app,
        cluster,
        copy,
        existingPolicy="update",
        includeStatus=True,
        scope={"includeNamespaces": [ns], "includeClusterResources": True},
    )
    planned = app.drkit.json("restore", "plan", str(plan))
    verbs = {a["display"]: (a["verb"], a["reason"]) for a in planned["actions"]}
    original = f"clusterrolebindings.rbac.authorization.k8s.io/{app.crb}"
    renamed = f"clusterrolebindings.rbac.authorization.k8s.io/{app.crb}-{copy}"
    assert verbs[original][0] == "skip"
    assert f"also serves namespace {ns}" in verbs[original][1]
    assert verbs[renamed][0] == "create"
    assert verbs[f"endpointslices.discovery.k8s.io/external-1 in {copy}"][0] == "create"
    assert "recreated without its data" in verbs[f"secrets/ci-token in {copy}"][1]
    assert "status then written through /status" in verbs[f"widgets.{app.group}/w1 in {copy}"][1]
    reasons = {s["sourcePath"]: s["reason"] for s in planned["skipped"]}
    job = f"resources/batch/v1/jobs/{ns}/migrate.json"
    assert reasons[job].startswith("a finished Job (completed at ")
    assert any(
        w.startswith(f"deployments.apps/ghost in {ns} refers to PriorityClass {ns}-gone")
        for w in planned["warnings"]
    )

    ran = app.drkit.run("restore", "run", str(plan), "-o", "json")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr
    report = json.loads(ran.stdout)["report"]
    messages = {r["display"]: r["message"] for r in report["results"]}
    assert messages[f"widgets.{app.group}/w1 in {copy}"].endswith("status written through /status")

    c = cluster
    binding = c.api("GET", f"{RBAC}/clusterrolebindings/{app.crb}")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]
    copied = c.api("GET", f"{RBAC}/clusterrolebindings/{app.crb}-{copy}")
    assert copied["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": copy}]
    assert copied["roleRef"]["name"] == f"{ns}-reader"
    endpoint_slice = c.api("GET", f"/apis/discovery.k8s.io/v1/namespaces/{copy}/endpointslices/external-1")
    assert endpoint_slice["endpoints"][0]["addresses"] == ["10.1.2.3"]
    token = f"/api/v1/namespaces/{copy}/secrets/ci-token"
    _wait(
        lambda: (c.api("GET", token).get("data") or {}).get("token"),
        "the copy's token filled by the controller",
    )
    source_token = c.api("GET", f"/api/v1/namespaces/{ns}/secrets/ci-token")["data"]["token"]
    assert c.api("GET", token)["data"]["token"] != source_token
    widget = c.api("GET", f"/apis/{app.group}/v1/namespaces/{copy}/widgets/w1")
    assert widget["status"] == {"phase": "Ready", "observedSize": 3}
    assert not c.exists(f"/apis/batch/v1/namespaces/{copy}/jobs/migrate")

    # with skip: nothing shared changes, and the plan says that the copy's ServiceAccount gets no binding
    skip = _plan(app, cluster, copy, scope={"includeNamespaces": [ns], "includeClusterResources": True})
    skipped = {a["display"]: a["reason"] for a in app.drkit.json("restore", "plan", str(skip))["actions"]}
    assert f"ServiceAccount {copy}/ci of the copy get no binding" in skipped[original]


def test_finished_jobs_restored_suspended(app: App, cluster: ControlPlane) -> None:
    """Item 6: finishedJobs: suspend brings the Job back as a record that does not run."""
    target = f"{app.namespace}-jobs"
    plan = _plan(
        app,
        cluster,
        target,
        finishedJobs="suspend",
        scope={
            "includeNamespaces": [app.namespace],
            "includeResources": ["jobs"],
            "includeClusterResources": False,
        },
    )
    ran = app.drkit.json("restore", "run", str(plan))
    assert ran["report"]["failed"] == 0
    job = cluster.api("GET", f"/apis/batch/v1/namespaces/{target}/jobs/migrate")
    assert job["spec"]["suspend"] is True
    pods = cluster.api("GET", f"/api/v1/namespaces/{target}/pods")["items"]
    assert pods == []


def test_namespace_selector_and_a_selector_that_matches_nothing(app: App, cluster: ControlPlane) -> None:
    """Item 7: namespaces chosen by their labels; scope.selector over the same label matches no
    namespaced object and the plan says so; the backup's namespace selector too."""
    by_namespace = _plan(
        app, cluster, f"{app.namespace}-copy", scope={"namespaceSelector": f"team={app.team}"}
    )
    planned = app.drkit.json("restore", "plan", str(by_namespace))
    assert f"services/external in {app.namespace}-copy" in {a["display"] for a in planned["actions"]}
    assert planned["warnings"] == [] or all("refers to" in w for w in planned["warnings"])
    by_labels = _plan(app, cluster, f"{app.namespace}-copy", scope={"selector": f"team={app.team}"})
    warned = app.drkit.json("restore", "plan", str(by_labels))["warnings"]
    assert any("matched no namespaced object" in w and "scope.namespaceSelector" in w for w in warned), warned

    d = app.drkit
    chosen = d.json(
        "backup", "run", "--repo", str(d.repo), "--kubeconfig", str(cluster.kubeconfig),
        "--namespace-selector", f"team={app.team}",
    )  # fmt: skip
    assert chosen["meta"]["resources"]["counts"]["services"] >= 2  # the copy carries the label too
    assert chosen["meta"]["resources"]["warnings"] == []
    none = d.json(
        "backup", "run", "--repo", str(d.repo), "--kubeconfig", str(cluster.kubeconfig),
        "--namespace-selector", "team=nobody-has-this",
    )  # fmt: skip
    assert "matched no namespace" in none["meta"]["resources"]["warnings"][0]


def test_a_drill_checks_all_these_kinds_and_fails_when_the_status_is_lost(
    app: App, cluster: ControlPlane
) -> None:
    """The drill of this application into a scratch cluster passes with `includeStatus: true` (status,
    hand-written EndpointSlice, token Secret, binding, classes; the completed Job not rerun) and fails,
    naming the check, when the plan loses the custom resource's status."""
    ns = app.namespace
    checks: list[dict[str, Any]] = [
        {"statusEquals": {"kind": "Widget", "name": "w1", "namespace": ns}, "timeout": "10s"},
        {"exists": {"kind": "EndpointSlice", "name": "external-1", "namespace": ns}, "timeout": "10s"},
        {"exists": {"kind": "Secret", "name": "ci-token", "namespace": ns}, "timeout": "10s"},
        {"exists": {"kind": "ClusterRoleBinding", "name": app.crb}, "timeout": "10s"},
        {"exists": {"kind": "PriorityClass", "name": f"{ns}-nightly"}, "timeout": "10s"},
        {"exists": {"kind": "IngressClass", "name": f"{ns}-public"}, "timeout": "10s"},
        {"count": {"kind": "Job", "namespace": ns, "equals": 0}, "timeout": "10s"},
    ]

    def drill(include_status: bool) -> tuple[int, dict[str, Any]]:
        spec = {
            "repository": {"url": str(app.drkit.repo)},
            "snapshot": app.backup["id"],
            "target": {"scratch": True},
            "scope": {"includeNamespaces": [ns], "includeClusterResources": "auto"},
            "includeStatus": include_status,
            "waits": {"enabled": False},
            "checks": checks,
        }
        plan = app.tmp / "drill.yaml"
        doc = {
            "apiVersion": "drkit.io/v1",
            "kind": "RestorePlan",
            "metadata": {"name": "fidelity"},
            "spec": spec,
        }
        plan.write_text(yaml.safe_dump(doc, sort_keys=False))
        done = app.drkit.run("drill", "run", str(plan), "--provider", "local", "--no-store", "-o", "json")
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}

    code, result = drill(include_status=True)
    assert code == 0, result
    assert {c["status"] for c in result["checks"]} == {"pass"}, result["checks"]
    code, result = drill(include_status=False)
    assert code != 0
    failed = {c["name"]: c["message"] for c in result["checks"] if c["status"] == "fail"}
    assert list(failed) == [f"statusEquals Widget {ns}/w1"], result["checks"]
    assert "differs from the snapshot's" in failed[f"statusEquals Widget {ns}/w1"]
