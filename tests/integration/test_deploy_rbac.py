"""deploy/ against the real control plane (issue 9's "done when").

The kustomize base and both overlays are rendered with ``kubectl kustomize`` and applied server-side;
the Namespace enforces Pod Security ``restricted`` and the daemon's pods are admitted under it. Then
RBAC, with a real token of each ServiceAccount (TokenRequest API): ``drkit-backup`` backs up the
whole cluster with exit code 0 and cannot create, update, patch or delete anything (SubjectAccess-
Reviews over a matrix, and real attempts that get 403); ``drkit-mover`` has no rights; ``drkit-restore``
writes only where a RoleBinding grants it.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.errors import MissingComponent
from drkit.sandbox import binaries, http
from drkit.sandbox.controlplane import ControlPlane
from tests.infra.plugin import ROOT, missing

NS = "drkit"
DAEMON_LABELS = urllib.parse.quote("app.kubernetes.io/name=drkit,app.kubernetes.io/component=daemon")
SECRET_VALUE = "rbac-test-secret-value-7f3a"

# Write verbs the backup account must never hold, on a spread of resources (group, resource, subresource).
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
TARGETS: list[tuple[str, str, str]] = [
    ("", "secrets", ""),
    ("", "configmaps", ""),
    ("", "pods", ""),
    ("", "namespaces", ""),
    ("", "serviceaccounts", ""),
    ("", "persistentvolumeclaims", ""),
    ("apps", "deployments", ""),
    ("apps", "daemonsets", ""),
    ("batch", "jobs", ""),
    ("rbac.authorization.k8s.io", "clusterroles", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("rbac.authorization.k8s.io", "roles", ""),
    ("rbac.authorization.k8s.io", "rolebindings", ""),
    ("apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ""),
    ("coordination.k8s.io", "leases", ""),  # in namespaces other than drkit
]
# Escalation paths that are not plain writes.
SPECIAL: list[tuple[str, str, str, str]] = [
    ("create", "", "pods", "exec"),
    ("create", "", "pods", "portforward"),
    ("create", "", "serviceaccounts", "token"),
    ("impersonate", "", "serviceaccounts", ""),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("approve", "certificates.k8s.io", "signers", ""),
]


def kubectl_exe() -> Path:
    try:
        return binaries.find("kubectl")
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise  # unreachable


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl_exe()), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def render(kustomization: str) -> str:
    result = subprocess.run(
        [str(kubectl_exe()), "kustomize", str(ROOT / kustomization)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def documents(rendered: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered) if d]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} rendered {len(found)} times"
    return found[0]


def apply(cluster: ControlPlane, rendered: str, *, dry_run: bool) -> subprocess.CompletedProcess[str]:
    args = ["apply", "--server-side", "--field-manager=drkit-test", "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return kubectl(cluster.kubeconfig, *args, stdin=rendered)


@pytest.fixture(scope="module")
def base(cluster: ControlPlane) -> Iterator[list[dict[str, Any]]]:
    """deploy/base, validated by a server-side dry run, then applied for real (once per module)."""
    rendered = render("deploy/base")
    docs = documents(rendered)
    # A dry run of namespaced objects needs their namespace: the Namespace goes first, for real.
    namespace = yaml.safe_dump(find(docs, "Namespace", NS))
    for dry_run in (True, False):
        result = apply(cluster, namespace, dry_run=dry_run)
        assert result.returncode == 0, result.stderr
    dry = apply(cluster, rendered, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert "Warning" not in dry.stderr, dry.stderr
    real = apply(cluster, rendered, dry_run=False)
    assert real.returncode == 0, real.stderr
    assert "Warning" not in real.stderr, real.stderr
    yield documents(rendered)
    kubectl(cluster.kubeconfig, "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=rendered)


# --- Pod Security ---------------------------------------------------------------------------------


def test_namespace_enforces_restricted_and_daemon_pod_is_admitted(
    cluster: ControlPlane, base: list[dict[str, Any]]
) -> None:
    ns = cluster.api("GET", f"/api/v1/namespaces/{NS}")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"

    # The ReplicaSet controller creates the daemon's pod: admission under "restricted" passed.
    def pod_created() -> bool:
        pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={DAEMON_LABELS}")["items"]
        return len(pods) == 1

    cluster.wait(pod_created, "the drkit daemon pod created by its ReplicaSet", timeout=90)
    pod = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={DAEMON_LABELS}")["items"][0]
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/etc/drkit/repository", "/etc/drkit/s3", "/etc/drkit/schedules"} <= mounts
    from_secrets = [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
    assert from_secrets == [], "Secrets only as files"
    assert not container.get("envFrom")
    assert "--lease-namespace=$(POD_NAMESPACE)" in container["args"]


def test_restricted_is_really_enforced(cluster: ControlPlane, base: list[dict[str, Any]]) -> None:
    """The control: an ordinary pod (root allowed, capabilities kept) is refused in that namespace."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-hardened"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(http.HTTPStatusError) as err:
        cluster.api("POST", f"/api/v1/namespaces/{NS}/pods?dryRun=All", pod)
    assert err.value.status == 403
    assert "PodSecurity" in err.value.body


def _pod_from(template: dict[str, Any], name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": template["spec"]}


def test_cronjob_overlay_is_admitted_under_restricted(
    cluster: ControlPlane, base: list[dict[str, Any]]
) -> None:
    rendered = render("deploy/overlays/cronjob")
    docs = documents(rendered)
    assert not [d for d in docs if d["kind"] == "Deployment"]
    cron = find(docs, "CronJob", "drkit-backup")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["--log-format=json", "--log-level=info", "backup"]  # one line per run
    assert container["args"][3] == "run"
    dry = apply(cluster, rendered, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert "Warning" not in dry.stderr, dry.stderr
    # Its pod, as the Job controller would create it, passes "restricted" enforcement.
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    created = cluster.api("POST", f"/api/v1/namespaces/{NS}/pods?dryRun=All", _pod_from(template, "cron-pod"))
    assert created["spec"]["securityContext"]["runAsNonRoot"] is True


def test_control_plane_overlay_passes_server_validation(
    cluster: ControlPlane, base: list[dict[str, Any]]
) -> None:
    rendered = render("deploy/overlays/control-plane")
    docs = documents(rendered)
    deployment = find(docs, "Deployment", "drkit")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" for t in spec["tolerations"])
    etcd = next(v for v in spec["volumes"] if v["name"] == "etcd-pki")
    assert etcd["hostPath"]["path"] == "/etc/kubernetes/pki/etcd"
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "etcd-pki")
    assert mount["readOnly"] is True
    sc = spec["containers"][0]["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    namespace = find(docs, "Namespace", NS)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    dry = apply(cluster, rendered, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    # A host path is what "restricted" forbids: the pod is refused in the base namespace (documented),
    # and admitted in a namespace that enforces "privileged" as the overlay's does.
    with pytest.raises(http.HTTPStatusError) as err:
        cluster.api(
            "POST",
            f"/api/v1/namespaces/{NS}/pods?dryRun=All",
            _pod_from(deployment["spec"]["template"], "cp"),
        )
    assert err.value.status == 403
    assert "hostPath" in err.value.body
    privileged = cluster.api(
        "POST",
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "generateName": "drkit-cp-",
                "labels": namespace["metadata"]["labels"],
            },
        },
    )["metadata"]["name"]
    try:
        cluster.api(
            "POST",
            f"/api/v1/namespaces/{privileged}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "drkit-backup"}},
        )
        cluster.api(
            "POST",
            f"/api/v1/namespaces/{privileged}/pods?dryRun=All",
            _pod_from(deployment["spec"]["template"], "cp"),
        )
    finally:
        cluster.api("DELETE", f"/api/v1/namespaces/{privileged}")


def _drkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drkit", *args], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.parametrize("kustomization", ["deploy/base", "deploy/overlays/control-plane"])
def test_the_daemon_accepts_its_arguments_and_example_schedules(kustomization: str, tmp_path: Path) -> None:
    """What the Deployment runs parses, and its ConfigMap's schedules validate (`drkit daemon --check`)."""
    docs = documents(render(kustomization))
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    for name, text in find(docs, "ConfigMap", "drkit-schedules")["data"].items():
        (schedules / name).write_text(text)
    container = find(docs, "Deployment", "drkit")["spec"]["template"]["spec"]["containers"][0]
    args = [
        a.replace("/etc/drkit/schedules", str(schedules))
        .replace("/var/cache/drkit", str(tmp_path / "cache"))
        .replace("$(POD_NAMESPACE)", NS)
        for a in container["args"]
    ]
    checked = _drkit(*args, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "nightly" in checked.stdout


def test_the_cronjob_command_line_parses() -> None:
    cron = find(documents(render("deploy/overlays/cronjob")), "CronJob", "drkit-backup")
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = _drkit(*args, "--help")  # unknown options fail before --help is handled
    assert parsed.returncode == 0, parsed.stderr
    assert "Back up a cluster" in parsed.stdout


def test_the_network_policy_patch_in_deploy_md_replaces_every_placeholder(tmp_path: Path) -> None:
    """docs/deploy.md's overlay snippet, applied to the base, leaves no documentation range behind."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = doc.split("### Network policy", 1)[1]
    snippet = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(ROOT / "deploy" / "base", overlay)
    (overlay / "kustomization.yaml").write_text(f"resources:\n  - {base}\n{snippet}")
    result = subprocess.run(
        [str(kubectl_exe()), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    egress = find(documents(result.stdout), "NetworkPolicy", "drkit-egress")["spec"]["egress"]
    cidrs = [peer["ipBlock"]["cidr"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
    assert len(cidrs) == 3
    assert not [c for c in cidrs if c.startswith(("192.0.2.", "198.51.100.", "203.0.113."))]
    base_egress = find(documents(render("deploy/base")), "NetworkPolicy", "drkit-egress")["spec"]["egress"]
    base_cidrs = [peer["ipBlock"]["cidr"] for rule in base_egress for peer in rule["to"] if "ipBlock" in peer]
    assert all(c.startswith(("192.0.2.", "198.51.100.")) for c in base_cidrs)  # placeholders only


# --- RBAC -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    user: str
    token: str
    kubeconfig: Path


def mint(cluster: ControlPlane, account: str, tmp: Path) -> Identity:
    """A real token of ServiceAccount drkit/<account> (TokenRequest) and a kubeconfig that uses it."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = cluster.api("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{account}/token", request)
    token: str = answer["status"]["token"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sandbox",
                "cluster": {"server": cluster.server, "certificate-authority": str(cluster.pki.ca.cert)},
            }
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "sandbox", "user": account}}],
        "current-context": account,
    }
    path = tmp / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return Identity(f"system:serviceaccount:{NS}:{account}", token, path)


def allowed(
    cluster: ControlPlane,
    user: str,
    verb: str,
    group: str,
    resource: str,
    *,
    subresource: str = "",
    namespace: str | None = None,
) -> bool:
    attrs: dict[str, str] = {"verb": verb, "group": group, "resource": resource}
    if subresource:
        attrs["subresource"] = subresource
    if namespace is not None:
        attrs["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated"],
            "resourceAttributes": attrs,
        },
    }
    answer = cluster.api("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


@pytest.fixture(scope="module")
def backup_identity(
    cluster: ControlPlane, base: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Identity:
    ident = mint(cluster, "drkit-backup", tmp_path_factory.mktemp("tokens"))

    def aggregated() -> bool:  # the controller manager fills the aggregate ClusterRole
        role = cluster.api("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/drkit-backup")
        return bool(role.get("rules"))

    cluster.wait(aggregated, "ClusterRole drkit-backup aggregated", timeout=60)
    return ident


def _discovered(cluster: ControlPlane) -> list[tuple[str, str, bool, list[str]]]:
    """(group, resource, namespaced, verbs) of every served top-level resource, by classic discovery."""
    out: list[tuple[str, str, bool, list[str]]] = []
    paths = ["/api/v1"] + [
        f"/apis/{g['preferredVersion']['groupVersion']}" for g in cluster.api("GET", "/apis")["groups"]
    ]
    for path in paths:
        group = "" if path == "/api/v1" else path.split("/")[2]
        for r in cluster.api("GET", path)["resources"]:
            if "/" not in r["name"]:
                out.append((group, r["name"], r["namespaced"], r.get("verbs", [])))
    return out


def _custom_resources(cluster: ControlPlane) -> list[str]:
    """``plural.group`` of every CRD in the cluster."""
    crds = cluster.api("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    return [f"{c['spec']['names']['plural']}.{c['spec']['group']}" for c in crds]


def _custom_groups(cluster: ControlPlane) -> set[str]:
    return {r.split(".", 1)[1] for r in _custom_resources(cluster)}


# Resources the capture skips by default (docs/resources.md): the role does not need them.
SKIPPED = {
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "nodes"),
    ("coordination.k8s.io", "leases"),
    ("", "endpoints"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "componentstatuses"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "volumeattachments"),
    ("resource.k8s.io", "resourceslices"),
    ("networking.k8s.io", "ipaddresses"),
}


def test_backup_account_can_list_everything_a_backup_captures(
    cluster: ControlPlane, backup_identity: Identity
) -> None:
    resources = [(g, r) for g, r, _ns, verbs in _discovered(cluster) if "list" in verbs]
    assert len(resources) > 40
    missing_rights = [
        f"{r}.{g}" if g else r
        for g, r in resources
        if (g, r) not in SKIPPED
        and g not in _custom_groups(cluster)  # CRDs other tests create: granted by aggregation, not here
        and not all(allowed(cluster, backup_identity.user, v, g, r) for v in ("get", "list", "watch"))
    ]
    assert missing_rights == []
    # The leader-election Lease, in the drkit namespace only; never deleted.
    for verb in ("get", "create", "update"):
        assert allowed(cluster, backup_identity.user, verb, "coordination.k8s.io", "leases", namespace=NS)
    assert not allowed(cluster, backup_identity.user, "delete", "coordination.k8s.io", "leases", namespace=NS)
    assert not allowed(
        cluster, backup_identity.user, "create", "coordination.k8s.io", "leases", namespace="default"
    )


def test_the_daemon_creates_events_on_its_lease_with_the_backup_account(
    cluster: ControlPlane, backup_identity: Identity
) -> None:
    """docs/daemon.md, "Events": the daemon's account creates Events in its namespace, nothing more,
    and an Event it creates on its Lease is what `kubectl get events` shows about that Lease."""
    from drkit.daemon.events import EventRecorder, EventTarget
    from drkit.kube.client import KubeClient
    from drkit.kube.errors import KubeForbidden

    user = backup_identity.user
    assert allowed(cluster, user, "create", "", "events", namespace=NS)
    for verb in ("get", "list", "update", "patch", "delete"):
        assert not allowed(cluster, user, verb, "", "events", namespace=NS), verb
    assert not allowed(cluster, user, "create", "", "events", namespace="default")
    assert not allowed(cluster, user, "create", "events.k8s.io", "events", namespace="default")

    lease = "drkit-events-test"
    with KubeClient.from_kubeconfig(backup_identity.kubeconfig, None) as kube:
        created = kube.send_json(  # as the daemon's election does, with the same account
            "POST",
            f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases",
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": lease}},
        )
        try:
            recorder = EventRecorder(kube, EventTarget.lease(NS, lease), "drkit-0")
            recorder.send("Warning", "DrillFailed", "drill of nightly failed (attempt 1): check web: 503")
            recorder.send("Normal", "DrillPassed", "drill of nightly succeeded after a failed run")
            listed = kubectl(
                cluster.kubeconfig,
                "-n",
                NS,
                "get",
                "events",
                "--field-selector",
                f"involvedObject.kind=Lease,involvedObject.name={lease}",
                "-o",
                "json",
            )
            assert listed.returncode == 0, listed.stderr
            items = json.loads(listed.stdout)["items"]
            assert [(e["type"], e["reason"]) for e in items] == [
                ("Warning", "DrillFailed"),
                ("Normal", "DrillPassed"),
            ]
            assert {e["involvedObject"]["uid"] for e in items} == {created["metadata"]["uid"]}
            assert items[0]["source"]["component"] == "drkit-daemon"
            # elsewhere, the same account is refused
            other = EventRecorder(kube, EventTarget.lease("default", lease), "drkit-0")
            with pytest.raises(KubeForbidden):
                other.send("Warning", "DrillFailed", "not here")
        finally:
            cluster.api("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{lease}")


def test_backup_account_cannot_write_anything(cluster: ControlPlane, backup_identity: Identity) -> None:
    granted = [
        f"{verb} {resource}.{group or 'core'}"
        for group, resource, _sub in TARGETS
        for verb in WRITE_VERBS
        if allowed(cluster, backup_identity.user, verb, group, resource, namespace="default")
        or allowed(cluster, backup_identity.user, verb, group, resource)
    ]
    granted += [
        f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}"
        for verb, group, resource, sub in SPECIAL
        if allowed(cluster, backup_identity.user, verb, group, resource, subresource=sub, namespace="default")
    ]
    assert granted == []
    # The same reviews do answer "yes" for what the account holds.
    assert allowed(cluster, backup_identity.user, "list", "", "secrets", namespace="default")


def test_backup_account_real_write_attempts_are_forbidden(
    cluster: ControlPlane, backup_identity: Identity, namespace: str
) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "planted"}}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback API server
        f"{cluster.server}/api/v1/namespaces/{namespace}/configmaps",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {backup_identity.token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(cluster.pki.ca.cert))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
    assert err.value.code == 403
    assert "cannot create resource" in err.value.read().decode()
    assert not cluster.exists(f"/api/v1/namespaces/{namespace}/configmaps/planted")

    deleted = kubectl(backup_identity.kubeconfig, "-n", namespace, "delete", "serviceaccount", "default")
    assert deleted.returncode != 0
    assert "forbidden" in deleted.stderr.lower()
    assert cluster.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
    # And it can read: the same client with the same token lists Secrets.
    listed = kubectl(backup_identity.kubeconfig, "-n", namespace, "get", "secrets", "-o", "name")
    assert listed.returncode == 0, listed.stderr


def test_backup_run_with_the_backup_account(
    cluster: ControlPlane, backup_identity: Identity, namespace: str, tmp_path: Path
) -> None:
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": {"pw": SECRET_VALUE},
        },
    )
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}},
    )
    env = {
        **os.environ,
        "DRKIT_REPO": str(tmp_path / "repo"),
        "DRKIT_PASSWORD": "a passphrase for the rbac test",
        "DRKIT_SCRYPT_N": "1024",
    }
    env.pop("KUBECONFIG", None)

    def drkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )

    assert drkit("repo", "init").returncode == 0
    # The whole cluster, except the custom resources of CRDs other tests leave behind: their read
    # rights come from a ClusterRole the user aggregates (docs/deploy.md), not from the base.
    custom = ",".join(_custom_resources(cluster)) or "none.invalid"
    run = drkit(
        "backup",
        "run",
        "--kubeconfig",
        str(backup_identity.kubeconfig),
        "--exclude-resources",
        custom,
        "-o",
        "json",
    )
    assert run.returncode == 0, run.stdout + run.stderr  # 1 (partial) would mean a forbidden list
    snap = json.loads(run.stdout)
    assert snap["partial"] is False
    assert snap["meta"]["resources"]["errors"] == []
    listed = drkit("snapshot", "ls", snap["id"], "-o", "json")
    assert listed.returncode == 0, listed.stderr
    paths = {row["path"] for row in json.loads(listed.stdout)}
    assert f"resources/core/v1/secrets/{namespace}/db.json" in paths
    assert f"resources/core/v1/configmaps/{namespace}/settings.json" in paths
    assert "resources/rbac.authorization.k8s.io/v1/clusterroles/_cluster/drkit-backup.json" in paths
    assert "resources/apps/v1/deployments/drkit/drkit.json" in paths
    assert SECRET_VALUE not in run.stdout + run.stderr


def test_mover_account_has_no_api_rights(
    cluster: ControlPlane, base: list[dict[str, Any]], tmp_path: Path
) -> None:
    mover = mint(cluster, "drkit-mover", tmp_path)
    sa = cluster.api("GET", f"/api/v1/namespaces/{NS}/serviceaccounts/drkit-mover")
    assert sa["automountServiceAccountToken"] is False
    for group, resource, _sub in TARGETS:
        for verb in ("get", "list", "watch", *WRITE_VERBS):
            assert not allowed(cluster, mover.user, verb, group, resource, namespace=NS), (verb, resource)
    denied = kubectl(mover.kubeconfig, "-n", NS, "get", "pods")
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()

    # A backup with it lists nothing: partial (exit 1), and the audit log says so.
    env = {
        **os.environ,
        "DRKIT_REPO": str(tmp_path / "repo"),
        "DRKIT_PASSWORD": "pw",
        "DRKIT_SCRYPT_N": "1024",
    }

    def drkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )

    assert drkit("repo", "init").returncode == 0
    partial = drkit("backup", "run", "--kubeconfig", str(mover.kubeconfig), "--include-namespaces", NS)
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert "forbidden" in partial.stdout.lower()
    records = json.loads(drkit("audit", "-o", "json").stdout)["records"]
    assert [(r["command"], r["result"]) for r in records] == [("backup run", "partial")]
    assert "lacks" in records[0]["detail"]["error"]


def test_restore_account_writes_only_where_bound(
    cluster: ControlPlane, base: list[dict[str, Any]], namespace: str
) -> None:
    user = f"system:serviceaccount:{NS}:drkit-restore"
    assert not allowed(cluster, user, "create", "apps", "deployments", namespace=namespace)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "drkit-restore"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "drkit-restore"},
        "subjects": [{"kind": "ServiceAccount", "name": "drkit-restore", "namespace": NS}],
    }
    cluster.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", binding)
    for verb in ("create", "update", "patch", "get"):
        assert allowed(cluster, user, verb, "apps", "deployments", namespace=namespace)
        assert allowed(cluster, user, verb, "", "secrets", namespace=namespace)
    assert allowed(cluster, user, "get", "", "namespaces", namespace=namespace)  # its own Namespace only
    assert not allowed(cluster, user, "get", "", "namespaces", namespace="default")
    assert not allowed(cluster, user, "delete", "apps", "deployments", namespace=namespace)
    assert not allowed(cluster, user, "create", "apps", "deployments", namespace="default")
    assert not allowed(cluster, user, "create", "", "namespaces")
    assert not allowed(cluster, user, "create", "rbac.authorization.k8s.io", "clusterrolebindings")


def _new_namespace(cluster: ControlPlane, prefix: str) -> str:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": prefix}}
    name: str = cluster.api("POST", "/api/v1/namespaces", body)["metadata"]["name"]
    return name


def test_restore_with_the_restore_account_writes_where_bound_only(
    cluster: ControlPlane, base: list[dict[str, Any]], namespace: str, tmp_path: Path
) -> None:
    """`drkit restore run` with drkit-restore's token: into a namespace with the documented RoleBinding
    it restores; into one without, it is refused and creates nothing."""
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "blue"}},
    )
    cluster.api(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": {"pw": SECRET_VALUE},
        },
    )
    bound, unbound = _new_namespace(cluster, "restore-to-"), _new_namespace(cluster, "no-restore-")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "drkit-restore"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "drkit-restore"},
        "subjects": [{"kind": "ServiceAccount", "name": "drkit-restore", "namespace": NS}],
    }
    cluster.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{bound}/rolebindings", binding)
    restorer = mint(cluster, "drkit-restore", tmp_path)
    env = {
        **os.environ,
        "DRKIT_REPO": str(tmp_path / "repo"),
        "DRKIT_PASSWORD": "pw",
        "DRKIT_SCRYPT_N": "1024",
    }
    env.pop("KUBECONFIG", None)

    def drkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )

    def plan(target: str) -> Path:
        doc = {
            "apiVersion": "drkit.io/v1",
            "kind": "RestorePlan",
            "metadata": {"name": f"to-{target}"},
            "spec": {
                "snapshot": "latest",
                "scope": {"includeNamespaces": [namespace], "includeClusterResources": False},
                "namespaceMapping": {namespace: target},
                "existingPolicy": "skip",
            },
        }
        path = tmp_path / f"{target}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    try:
        assert drkit("repo", "init").returncode == 0
        backup = drkit(
            "backup", "run", "--kubeconfig", str(cluster.kubeconfig), "--include-namespaces", namespace
        )
        assert backup.returncode == 0, backup.stderr

        restored = drkit("restore", "run", str(plan(bound)), "--kubeconfig", str(restorer.kubeconfig))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        cm = cluster.api("GET", f"/api/v1/namespaces/{bound}/configmaps/settings")
        assert cm["data"] == {"mode": "blue"}
        assert cluster.exists(f"/api/v1/namespaces/{bound}/secrets/db")
        assert SECRET_VALUE not in restored.stdout + restored.stderr

        refused = drkit("restore", "run", str(plan(unbound)), "--kubeconfig", str(restorer.kubeconfig))
        assert refused.returncode != 0
        assert "forbidden" in (refused.stdout + refused.stderr).lower()
        assert not cluster.exists(f"/api/v1/namespaces/{unbound}/configmaps/settings")
        assert not cluster.exists(f"/api/v1/namespaces/{unbound}/secrets/db")
    finally:
        for name in (bound, unbound):
            cluster.api("DELETE", f"/api/v1/namespaces/{name}")


def test_custom_resources_are_read_through_an_aggregated_clusterrole(
    cluster: ControlPlane, backup_identity: Identity, namespace: str, tmp_path: Path
) -> None:
    """docs/deploy.md, "Custom resources": without a grant the CRD's list is forbidden (partial); a
    ClusterRole labelled backup.drkit.io/aggregate-to-backup=true adds it to drkit-backup."""
    group = f"{namespace}.aggregate.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    cluster.api("POST", crds, crd)
    try:

        def established() -> bool:
            got = cluster.api("GET", f"{crds}/gizmos.{group}")
            return any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (got.get("status") or {}).get("conditions") or []
            )

        cluster.wait(established, f"CRD gizmos.{group} Established")
        gizmo = {
            "apiVersion": f"{group}/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g1"},
            "spec": {"size": 2},
        }
        cluster.api("POST", f"/apis/{group}/v1/namespaces/{namespace}/gizmos", gizmo)
        env = {
            **os.environ,
            "DRKIT_REPO": str(tmp_path / "repo"),
            "DRKIT_PASSWORD": "pw",
            "DRKIT_SCRYPT_N": "1024",
        }
        env.pop("KUBECONFIG", None)

        def backup() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "drkit",
                    "backup",
                    "run",
                    "--kubeconfig",
                    str(backup_identity.kubeconfig),
                    "--include-namespaces",
                    namespace,
                    "-o",
                    "json",
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=300,
            )

        init = subprocess.run(
            [sys.executable, "-m", "drkit", "repo", "init"],
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert init.returncode == 0
        before = backup()
        assert before.returncode == 1, before.stdout + before.stderr  # partial: gizmos forbidden
        assert "gizmos" in before.stdout

        grant = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": f"drkit-backup-{namespace}",
                "labels": {"backup.drkit.io/aggregate-to-backup": "true"},
            },
            "rules": [{"apiGroups": [group], "resources": ["gizmos"], "verbs": ["get", "list", "watch"]}],
        }
        cluster.api("POST", roles, grant)
        cluster.wait(
            lambda: allowed(cluster, backup_identity.user, "list", group, "gizmos"),
            "the aggregated drkit-backup ClusterRole to include gizmos",
        )
        after = backup()
        assert after.returncode == 0, after.stdout + after.stderr
        assert json.loads(after.stdout)["meta"]["resources"]["errors"] == []
        assert not allowed(cluster, backup_identity.user, "create", group, "gizmos", namespace=namespace)
    finally:
        for path in (f"{roles}/drkit-backup-{namespace}", f"{crds}/gizmos.{group}"):
            try:
                cluster.api("DELETE", path)
            except http.HTTPStatusError as exc:
                if exc.status != 404:
                    raise


def test_movers_role_runs_mover_jobs_only_where_bound(
    cluster: ControlPlane, base: list[dict[str, Any]], namespace: str
) -> None:
    user = f"system:serviceaccount:{NS}:drkit-backup"
    assert not allowed(cluster, user, "create", "batch", "jobs", namespace=namespace)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "drkit-movers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "drkit-movers"},
        "subjects": [{"kind": "ServiceAccount", "name": "drkit-backup", "namespace": NS}],
    }
    cluster.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", binding)
    for verb in ("create", "get", "delete"):
        assert allowed(cluster, user, verb, "batch", "jobs", namespace=namespace)
        assert allowed(cluster, user, verb, "snapshot.storage.k8s.io", "volumesnapshots", namespace=namespace)
        assert allowed(cluster, user, verb, "", "persistentvolumeclaims", namespace=namespace)
    assert allowed(cluster, user, "list", "", "pods", namespace=namespace)
    assert allowed(cluster, user, "list", "", "events", namespace=namespace)
    assert allowed(cluster, user, "get", "", "secrets", namespace=namespace)
    # nothing else, nowhere else
    assert not allowed(cluster, user, "create", "batch", "jobs", namespace="default")
    assert not allowed(cluster, user, "update", "batch", "jobs", namespace=namespace)
    assert not allowed(cluster, user, "create", "apps", "deployments", namespace=namespace)
    assert not allowed(cluster, user, "delete", "", "pods", namespace=namespace)
    assert not allowed(cluster, user, "create", "", "secrets", namespace=namespace)
    assert not allowed(cluster, user, "delete", "", "secrets", namespace=namespace)
