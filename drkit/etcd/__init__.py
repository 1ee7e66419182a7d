"""drkit's etcd client: status, health, HashKV over the gRPC-JSON gateway; verified snapshots over gRPC.

The standard library (``http.client``/``ssl``) for the gateway, ``grpcio`` for the snapshot stream;
see ``docs/etcd.md``.

The names below are loaded when first used: ``drkit backup run`` parses its ``--etcd-endpoints``
(:mod:`drkit.etcd.config`) before the repository's key derivation starts, and the client's modules
(``http.client`` and the rest, ~30 ms) load after it, while scrypt runs on its thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drkit.etcd.client import EtcdClient
    from drkit.etcd.config import KUBEADM_PKI_DIR, EtcdEndpoint, EtcdTLS, endpoints_from
    from drkit.etcd.errors import (
        EtcdRequestFailed,
        EtcdTLSError,
        EtcdUnavailable,
        SnapshotCorrupt,
        SnapshotRaced,
    )
    from drkit.etcd.snapshot import HashKV, SnapshotResult, SnapshotStream
    from drkit.etcd.status import EndpointHealth, Probe, Status

_WHERE = {
    "EtcdClient": "client",
    "KUBEADM_PKI_DIR": "config",
    "EtcdEndpoint": "config",
    "EtcdTLS": "config",
    "endpoints_from": "config",
    "EtcdRequestFailed": "errors",
    "EtcdTLSError": "errors",
    "EtcdUnavailable": "errors",
    "SnapshotCorrupt": "errors",
    "SnapshotRaced": "errors",
    "HashKV": "snapshot",
    "SnapshotResult": "snapshot",
    "SnapshotStream": "snapshot",
    "EndpointHealth": "status",
    "Probe": "status",
    "Status": "status",
}

__all__ = [
    "KUBEADM_PKI_DIR",
    "EndpointHealth",
    "EtcdClient",
    "EtcdEndpoint",
    "EtcdRequestFailed",
    "EtcdTLS",
    "EtcdTLSError",
    "EtcdUnavailable",
    "HashKV",
    "Probe",
    "SnapshotCorrupt",
    "SnapshotRaced",
    "SnapshotResult",
    "SnapshotStream",
    "Status",
    "endpoints_from",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value
