"""A drill whose check asks the restored application itself: the scratch cluster has a real node, the
restored Deployment runs, and `httpProbe` reads the backed-up data from it through its Service (the
check that is skipped on kwok nodes)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.sandbox.controlplane import ControlPlane
from tests.node import workloads as w


def _app(marker: str) -> list[tuple[str, dict[str, Any]]]:
    pod = w.app_pod("web", "exec httpd -f -p 8080 -h /srv", claim_name=None)["spec"]
    pod["containers"][0]["volumeMounts"] = [{"name": "page", "mountPath": "/srv"}]
    pod["volumes"] = [{"name": "page", "configMap": {"name": "page"}}]
    return [
        (
            "/api/v1/namespaces/{ns}/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page"},
             "data": {"index.html": f"order book {marker}\n"}},
        ),
        (
            "/apis/apps/v1/namespaces/{ns}/deployments",
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod}}},
        ),
        (
            "/api/v1/namespaces/{ns}/services",
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        ),
    ]  # fmt: skip


@pytest.fixture
def shop(real_cluster: ControlPlane) -> Iterator[str]:
    ns = w.namespace(real_cluster, "drill")
    yield ns
    w.delete_namespace(real_cluster, ns)


def test_a_drill_on_a_real_node_asks_the_restored_app_for_the_backed_up_data(
    real_cluster: ControlPlane, shop: str, tmp_path: Path
) -> None:
    marker = secrets.token_hex(6)
    for path, obj in _app(marker):
        real_cluster.api("POST", path.format(ns=shop), obj)
    env = {
        **os.environ,
        "KUBECONFIG": str(real_cluster.kubeconfig),
        "DRKIT_REPO": str(tmp_path / "repo"),
        "DRKIT_PASSWORD": "a passphrase for the real drill",
        "DRKIT_SCRYPT_N": "1024",
    }

    def drkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "drkit", *args], capture_output=True, text=True, env=env,
                              check=False, timeout=900)  # fmt: skip

    assert drkit("repo", "init", "--retention", "1d").returncode == 0
    backup = drkit("backup", "run", "--include-namespaces", shop, "-o", "json")
    assert backup.returncode == 0, backup.stderr
    probe = {"namespace": shop, "service": "web", "port": 80, "path": "/index.html", "contains": marker}
    plan = tmp_path / "drill.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drkit.io/v1",
                "kind": "RestorePlan",
                "metadata": {"name": "real-drill"},
                "spec": {
                    "snapshot": "latest",
                    "target": {"scratch": True},
                    "scope": {"includeNamespaces": [shop], "includeClusterResources": False},
                    "existingPolicy": "fail",
                    "checks": [
                        {
                            "available": {"kind": "Deployment", "name": "web", "namespace": shop},
                            "timeout": "3m",
                        },
                        {"httpProbe": probe, "timeout": "1m"},
                        {
                            "httpProbe": {**probe, "contains": "not-in-the-backup"},
                            "name": "a wrong answer fails",
                        },
                    ],
                },
            }
        )
    )
    done = drkit("drill", "run", str(plan), "--provider", "local", "--real-nodes", "1", "-o", "json")
    result = json.loads(done.stdout)
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses.pop("a wrong answer fails") == "fail", result[
        "checks"
    ]  # the probe really reads the answer
    assert set(statuses.values()) == {"pass"}, result["checks"]
    assert done.returncode == 14  # the drill fails because of the deliberately wrong check, and only that
    assert result["cluster"]["realNodes"] == ["node-0"]
