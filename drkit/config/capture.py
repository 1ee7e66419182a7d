"""What one cluster backup captures: the request model that both front ends fill.

``drkit backup run`` maps its options onto a :class:`CaptureSettings` (``drkit/cli/backup.py``,
``CAPTURE_FLAGS``) and a schedule file maps ``spec.kube``, ``spec.etcd``, ``spec.resources`` and
``spec.volumes`` onto the same class (``drkit/config/schedule.py``, ``CAPTURE_KEYS``);
:func:`drkit.capture.request.request_from_settings` turns either into the capture's request. A test
enumerates :func:`capture_fields` against both tables, so an option cannot exist on one side only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: Path | None = None  # None: $KUBECONFIG, ~/.kube/config or in-cluster
    context: str | None = None  # None: the kubeconfig's current context


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...]
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    kubeadm: bool = False  # kubeadm's CA and healthcheck client under /etc/kubernetes/pki/etcd


@dataclass(frozen=True)
class ResourceSettings:
    enabled: bool = True
    include_namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    include_resources: tuple[str, ...] = ()
    exclude_resources: tuple[str, ...] = ()
    selector: str | None = None
    include_cluster_resources: str = "auto"  # auto | true | false
    namespace_selector: str | None = None  # label selector over the live Namespace objects


@dataclass(frozen=True)
class VolumeSettings:
    mode: str = "none"  # "all" | "none" | a label selector of the PVCs to back up
    mover: str = "local"  # local: read host paths here; job: a mover Job per claim
    path_map: tuple[str, ...] = ()  # --volume-path-map rules (checked by the capture)
    snapshot_class: str | None = None
    image: str | None = None
    secret: str | None = None  # None: the mover's default Secret (drkit-repo)
    timeout: timedelta | None = None  # None: one hour
    run_as_user: int | None = None  # job mode: uid (and gid) of the mover; None: 65532
    fs_group: int | None = None  # job mode: fsGroup of the mover pod
    read_as_root: bool = False  # job mode: root with only CAP_DAC_READ_SEARCH (reads any owner's files)
    hooks: bool = True  # run the pods' pre/post backup hooks
    parallel: int = 4  # job mode: mover Jobs of that many claims at a time


@dataclass(frozen=True)
class CaptureSettings:
    """What to capture and how: the part of a backup request that a schedule and the command line
    both say. Where it goes (repository, tags, host, lock) is not part of it."""

    kube: KubeSettings = field(default_factory=KubeSettings)
    etcd: EtcdSettings | None = None  # None: no etcd snapshot
    resources: ResourceSettings = field(default_factory=ResourceSettings)
    volumes: VolumeSettings = field(default_factory=VolumeSettings)


_SECTIONS: dict[str, type] = {
    "kube": KubeSettings,
    "etcd": EtcdSettings,
    "resources": ResourceSettings,
    "volumes": VolumeSettings,
}


def capture_fields() -> tuple[str, ...]:
    """Every leaf of :class:`CaptureSettings` as a dotted path (``volumes.run_as_user``)."""
    assert tuple(f.name for f in dataclasses.fields(CaptureSettings)) == tuple(_SECTIONS)
    return tuple(f"{name}.{f.name}" for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls))
