"""drkit's etcd client: status, health, HashKV over the gRPC-JSON gateway; verified snapshots over gRPC.

The standard library (``http.client``/``ssl``) for the gateway, ``grpcio`` for the snapshot stream;
see ``docs/etcd.md``.
"""

from drkit.etcd.client import EtcdClient, endpoints_from
from drkit.etcd.config import KUBEADM_PKI_DIR, EtcdEndpoint, EtcdTLS
from drkit.etcd.errors import (
    EtcdRequestFailed,
    EtcdTLSError,
    EtcdUnavailable,
    SnapshotCorrupt,
    SnapshotRaced,
)
from drkit.etcd.snapshot import HashKV, SnapshotResult, SnapshotStream
from drkit.etcd.status import EndpointHealth, Probe, Status

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
