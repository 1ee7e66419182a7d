"""Endpoints and EndpointSlices that a controller makes (left out), told apart from hand-written ones
(kept): the one rule the capture and the restore planner share.

    services = selector_services(service_docs)       # (namespace, name) of Services with a selector
    why = endpoints_made_by_controller("endpointslices", "discovery.k8s.io", doc, services)
    # -> "controller-made: maintained by endpointslice-controller.k8s.io ..." or None (hand-written: keep)

A Service with a selector gets its Endpoints and EndpointSlices from the endpoints and EndpointSlice
controllers, rewritten from the Pods within seconds; restoring stale Pod IPs only does harm. A Service
without a selector has none of that: its Endpoints and EndpointSlices were written by hand (or by a
controller outside Kubernetes) and are lost unless they are kept. Hand-written Endpoints are mirrored
into EndpointSlices by the mirroring controller: those mirrors are controller-made too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CONTROLLER_MADE = "controller-made"

SLICE_MANAGER_LABEL = "endpointslice.kubernetes.io/managed-by"
ENDPOINTS_MANAGER_LABEL = "endpoints.kubernetes.io/managed-by"
KUBERNETES_SLICE_MANAGERS = frozenset(
    {"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"}
)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
API_SERVER_SERVICE = ("default", "kubernetes")

ENDPOINTS = ("", "endpoints")
ENDPOINT_SLICES = ("discovery.k8s.io", "endpointslices")


def selector_services(services: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """``(namespace, name)`` of the Services (raw JSON) that have a selector."""
    out: set[tuple[str, str]] = set()
    for doc in services:
        meta = doc.get("metadata") or {}
        if (doc.get("spec") or {}).get("selector"):
            out.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))
    return out


def is_endpoints_kind(group: str, resource: str) -> bool:
    return (group, resource) in (ENDPOINTS, ENDPOINT_SLICES)


def endpoints_made_by_controller(
    group: str, resource: str, doc: Mapping[str, Any], services: Iterable[tuple[str, str]]
) -> str | None:
    """Why this Endpoints or EndpointSlice object is made by a controller (``controller-made:
    maintained by ...``), or ``None`` when nothing makes it (keep it). ``services``: the Services with
    a selector, as :func:`selector_services` gives them."""
    maker = endpoints_maker(group, resource, doc, services)
    return None if maker is None else f"{CONTROLLER_MADE}: maintained by {maker}"


def endpoints_maker(  # noqa: PLR0911
    group: str, resource: str, doc: Mapping[str, Any], services: Iterable[tuple[str, str]]
) -> str | None:
    """Who makes this Endpoints or EndpointSlice object (``the endpoints controller``,
    ``endpointslice-controller.k8s.io``, ...), or ``None`` when nothing does."""
    meta = doc.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    raw_labels = meta.get("labels")
    labels: Mapping[str, Any] = raw_labels if isinstance(raw_labels, Mapping) else {}
    service = labels.get(SERVICE_NAME_LABEL) if (group, resource) == ENDPOINT_SLICES else name
    if (namespace, service) == API_SERVER_SERVICE:
        return "the API server (its own Service)"
    if (group, resource) == ENDPOINTS:
        selecting = (namespace, name) in set(services)
        if labels.get(ENDPOINTS_MANAGER_LABEL) == "endpoint-controller" or selecting:
            return "the endpoints controller (from the Pods of a Service with a selector)"
        return None
    if (group, resource) != ENDPOINT_SLICES:
        return None
    manager = labels.get(SLICE_MANAGER_LABEL)
    if manager in KUBERNETES_SLICE_MANAGERS:
        return str(manager)
    for owner in meta.get("ownerReferences") or []:
        if isinstance(owner, Mapping) and owner.get("controller") is True:
            return f"its owner ({owner.get('kind')})"
    return None
