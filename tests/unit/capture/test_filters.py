"""CaptureFilter: namespaces, resources, the skip list, the cluster-resources modes, the AUTO needs."""

from __future__ import annotations

from typing import Any

import pytest

from drkit.capture.filters import DEFAULT_SKIP, CaptureFilter, ClusterResources, needed_cluster_objects
from drkit.errors import ConfigError
from drkit.kube.resource import Resource

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)
EVENTS = Resource("", "v1", "events", "Event", True)
EVENTS_K8S = Resource("events.k8s.io", "v1", "events", "Event", True)
NODES = Resource("", "v1", "nodes", "Node", False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True)
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints", True)
SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True)
NODE_METRICS = Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False)
CUSTOM_NODES = Resource("example.com", "v1", "nodes", "Node", True)
WIDGETS = Resource("example.com", "v1", "widgets", "Widget", True)
GADGETS = Resource("toys.example.com", "v1alpha1", "gadgets", "Gadget", False)
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True)
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True)
SNAPSHOTS = Resource("snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", True)


@pytest.mark.parametrize(
    ("options", "resource", "included", "reason_part"),
    [
        ({}, CONFIGMAPS, True, ""),
        ({}, DEPLOYMENTS, True, ""),
        ({}, WIDGETS, True, ""),
        ({}, EVENTS, False, "default skip list"),
        ({}, EVENTS_K8S, False, "default skip list"),
        ({}, NODES, False, "default skip list"),
        ({}, LEASES, False, "default skip list"),
        ({}, ENDPOINTS, True, ""),  # decided per object (controllermade.py)
        ({}, SLICES, True, ""),
        ({}, NODE_METRICS, False, "live metrics"),
        ({}, CUSTOM_NODES, True, ""),  # skip entries name qualified resources: core nodes only
        ({"exclude_resources": ["nodes"]}, CUSTOM_NODES, False, "--exclude-resources"),  # any group
        # include by plural, by plural.group, by glob
        ({"include_resources": ["deployments"]}, DEPLOYMENTS, True, ""),
        ({"include_resources": ["deployments"]}, CONFIGMAPS, False, "--include-resources"),
        ({"include_resources": ["deployments.apps"]}, DEPLOYMENTS, True, ""),
        ({"include_resources": ["Deployments.APPS"]}, DEPLOYMENTS, True, ""),
        ({"include_resources": ["deployments.extensions"]}, DEPLOYMENTS, False, "--include-resources"),
        ({"include_resources": ["*.example.com"]}, WIDGETS, True, ""),
        ({"include_resources": ["*.example.com"]}, GADGETS, True, ""),
        ({"include_resources": ["*.example.com"]}, DEPLOYMENTS, False, "--include-resources"),
        ({"include_resources": ["config*"]}, CONFIGMAPS, True, ""),
        # exclude wins over include
        ({"include_resources": ["*"], "exclude_resources": ["configmaps"]}, CONFIGMAPS, False, "--exclude"),
        ({"exclude_resources": ["*.apps"]}, DEPLOYMENTS, False, "--exclude-resources"),
        ({"exclude_resources": ["*.apps"]}, CONFIGMAPS, True, ""),
        # a skipped resource comes back when named exactly, not through a glob
        ({"include_resources": ["events"]}, EVENTS, True, ""),
        ({"include_resources": ["events"]}, EVENTS_K8S, True, ""),
        ({"include_resources": ["events.events.k8s.io"]}, EVENTS, False, "--include-resources"),
        ({"include_resources": ["*"]}, EVENTS, False, "default skip list"),
        ({"include_resources": ["endpoints", "configmaps"]}, ENDPOINTS, True, ""),
        # the skip list can be replaced
        ({"skip": {}}, EVENTS, True, ""),
        ({"skip": {"configmaps": "not wanted here"}}, CONFIGMAPS, False, "not wanted here"),
        ({"skip": {"configmaps": "x"}}, EVENTS, True, ""),
        # cluster-scoped resources and the three modes
        ({"include_cluster_resources": "false"}, CLUSTER_ROLES, False, "cluster-scoped"),
        ({"include_cluster_resources": "false"}, CONFIGMAPS, True, ""),
        ({"include_cluster_resources": "auto"}, CLUSTER_ROLES, True, ""),
        ({"include_cluster_resources": "true"}, CLUSTER_ROLES, True, ""),
        ({"include_cluster_resources": "true"}, NODES, False, "default skip list"),
    ],
)
def test_resource_decision(
    options: dict[str, Any], resource: Resource, included: bool, reason_part: str
) -> None:
    decision = CaptureFilter.build(**options).resource_decision(resource)
    assert decision.include is included
    assert reason_part in decision.reason
    assert bool(decision.reason) is not included


@pytest.mark.parametrize(
    ("include", "exclude", "namespace", "included"),
    [
        ((), (), "anything", True),
        (("shop",), (), "shop", True),
        (("shop",), (), "shopping", False),
        (("shop*",), (), "shopping", True),
        (("team-?",), (), "team-a", True),
        (("team-?",), (), "team-ab", False),
        (("*",), ("kube-*",), "kube-system", False),
        (("*",), ("kube-*",), "default", True),
        ((), ("default",), "default", False),
        (("a", "b"), ("b",), "b", False),
        (("a,b",), (), "b", True),  # comma-separated option values are split
    ],
)
def test_namespace_included(
    include: tuple[str, ...], exclude: tuple[str, ...], namespace: str, included: bool
) -> None:
    f = CaptureFilter.build(include_namespaces=include, exclude_namespaces=exclude)
    assert f.namespace_included(namespace) is included


@pytest.mark.parametrize(
    ("mode", "include_namespaces", "all_objects"),
    [
        ("auto", (), True),
        ("auto", ("*",), True),
        ("auto", ("shop",), False),
        ("true", ("shop",), True),
        ("false", (), False),
        (True, ("shop",), True),
        (False, (), False),
    ],
)
def test_all_cluster_objects(
    mode: str | bool, include_namespaces: tuple[str, ...], all_objects: bool
) -> None:
    f = CaptureFilter.build(include_namespaces=include_namespaces, include_cluster_resources=mode)
    assert f.all_cluster_objects() is all_objects


def test_bad_cluster_mode_and_patterns_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="include-cluster-resources"):
        CaptureFilter.build(include_cluster_resources="sometimes")
    with pytest.raises(ConfigError, match="include-resources"):
        CaptureFilter.build(include_resources=["apps/deployments"])
    assert ClusterResources.parse(" AUTO ") is ClusterResources.AUTO


def test_defaults_and_blanks() -> None:
    f = CaptureFilter.build(include_namespaces=[" ", "a, ,b"], label_selector="  ")
    assert f.include_namespaces == ("a", "b")
    assert f.label_selector is None
    assert f.skip == DEFAULT_SKIP
    assert f.include_cluster_resources is ClusterResources.AUTO
    assert all(reason for reason in DEFAULT_SKIP.values())


def _meta(ns: str, name: str = "x") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}}


@pytest.mark.parametrize(
    ("resource", "obj", "needed"),
    [
        (CONFIGMAPS, _meta("shop"), {("", "namespaces", "shop")}),
        (
            DEPLOYMENTS,
            _meta("shop"),
            {
                ("", "namespaces", "shop"),
            },
        ),
        (
            WIDGETS,
            _meta("shop"),
            {
                ("", "namespaces", "shop"),
                ("apiextensions.k8s.io", "customresourcedefinitions", "widgets.example.com"),
            },
        ),
        (
            SNAPSHOTS,  # CRDs in *.k8s.io groups exist too
            _meta("shop"),
            {
                ("", "namespaces", "shop"),
                (
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "volumesnapshots.snapshot.storage.k8s.io",
                ),
            },
        ),
        (
            PVCS,
            {**_meta("shop"), "spec": {"volumeName": "pv-1", "storageClassName": "fast"}},
            {
                ("", "namespaces", "shop"),
                ("", "persistentvolumes", "pv-1"),
                ("storage.k8s.io", "storageclasses", "fast"),
            },
        ),
        (PVCS, {**_meta("shop"), "spec": {}}, {("", "namespaces", "shop")}),  # pending, default class
        (
            ROLE_BINDINGS,
            {**_meta("shop"), "roleRef": {"kind": "ClusterRole", "name": "view"}},
            {
                ("", "namespaces", "shop"),
                ("rbac.authorization.k8s.io", "clusterroles", "view"),
            },
        ),
        (
            ROLE_BINDINGS,
            {**_meta("shop"), "roleRef": {"kind": "Role", "name": "local"}},
            {
                ("", "namespaces", "shop"),
            },
        ),
    ],
)
def test_needed_cluster_objects(
    resource: Resource, obj: dict[str, Any], needed: set[tuple[str, str, str]]
) -> None:
    assert needed_cluster_objects(resource, obj) == needed
