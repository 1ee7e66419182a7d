"""kwok: fake nodes whose pods become Running and Ready without a kubelet.

kwok drives objects through *stages* (status changes matched by selectors). Old kwok releases
fell back to built-in stages; newer ones expect them in ``--config``, so drkit always writes its own
small set: a node becomes Ready, a pod becomes Running/Ready, a Job's pod Succeeds, and a deleted pod
goes away (there is no kubelet to finish the deletion). Node leases are renewed by kwok itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from drkit.sandbox import binaries, process

ANNOTATION = "kwok.x-k8s.io/node"
ANNOTATION_VALUE = "fake"
NODE_LABEL = "type"
NODE_LABEL_VALUE = "kwok"
TAINT = {"key": ANNOTATION, "value": ANNOTATION_VALUE, "effect": "NoSchedule"}
POD_CIDR = "10.244.0.1/16"
LEASE_SECONDS = 40

_NODE_READY = """\
{{ $now := Now }}
conditions:
- type: Ready
  status: "True"
  reason: KubeletReady
  message: kwok fakes this node
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ range list "MemoryPressure" "DiskPressure" "PIDPressure" "NetworkUnavailable" }}
- type: {{ . }}
  status: "False"
  reason: KwokFake
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
addresses:
- type: InternalIP
  address: {{ NodeIP | Quote }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
phase: Running
"""

_POD_RUNNING = """\
{{ $now := Now }}
conditions:
{{ range list "PodScheduled" "Initialized" "ContainersReady" "Ready" }}
- type: {{ . }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

_POD_SUCCEEDED = """\
{{ $now := Now }}
conditions:
{{ range list "Ready" "ContainersReady" }}
- type: {{ . }}
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""


def _stage(name: str, kind: str, expressions: list[dict[str, Any]], nxt: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": kind},
            "selector": {"matchExpressions": expressions},
            "next": nxt,
        },
    }


def stages() -> list[dict[str, Any]]:
    """drkit's stage set (kwok's Stage API, v1alpha1)."""
    not_deleted = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    return [
        _stage(
            "drkit-node-ready",
            "Node",
            [
                {
                    "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
                    "operator": "NotIn",
                    "values": ["True"],
                }
            ],
            {"statusTemplate": _NODE_READY},
        ),
        _stage(
            "drkit-pod-running",
            "Pod",
            [not_deleted, {"key": ".status.podIP", "operator": "DoesNotExist"}],
            {"statusTemplate": _POD_RUNNING},
        ),
        _stage(
            "drkit-job-pod-succeeded",
            "Pod",
            [
                not_deleted,
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
            ],
            {"statusTemplate": _POD_SUCCEEDED},
        ),
        _stage(
            "drkit-pod-delete",
            "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"finalizers": {"empty": True}, "delete": True},
        ),
    ]


def write_config(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(stages(), sort_keys=False))
    return path


def start(workdir: Path, kubeconfig: Path, log_path: Path) -> process.Process:
    """Start kwok managing only the nodes annotated ``kwok.x-k8s.io/node=fake``.

    kwok also reads ``~/.kwok/kwok.yaml``: HOME points into ``workdir`` so that a user's file cannot
    change the sandbox.
    """
    exe = binaries.find("kwok")
    config = write_config(workdir / "kwok.yaml")
    home = workdir / "kwok-home"
    home.mkdir(parents=True, exist_ok=True)
    argv: list[str | Path] = [
        exe,
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={ANNOTATION}={ANNOTATION_VALUE}",
        f"--node-lease-duration-seconds={LEASE_SECONDS}",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.243.0.1",
    ]
    return process.start("kwok", argv, log_path, env={"HOME": str(home)})


def node_manifest(
    name: str,
    *,
    taint: bool = False,
    allocatable: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A fake Node for kwok: annotated for it, labelled ``type=kwok``, with room for pods."""
    resources = dict(allocatable or {"cpu": "32", "memory": "256Gi", "pods": "110"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {ANNOTATION: ANNOTATION_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                NODE_LABEL: NODE_LABEL_VALUE,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "spec": {"taints": [TAINT]} if taint else {},
        "status": {"allocatable": resources, "capacity": dict(resources)},
    }


def node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
