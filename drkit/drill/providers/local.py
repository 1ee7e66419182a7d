"""``local``: a control plane from the project's built binaries (etcd, kube-apiserver,
controller-manager, scheduler, kwok) on loopback, in a temp dir removed afterwards.

kwok nodes run no containers, so Services have no endpoints: ``httpProbe`` checks are skipped.
With ``real_nodes`` (``drill run --real-nodes N``, root and ``make image``) the scratch cluster has
real nodes instead, the restored application really runs, and ``httpProbe`` asks it through its
Service. Volume data is restored by drkit itself into ``<workdir>/volumes/<namespace>/<pvc>``,
where ``volumeChecksum`` checks read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drkit.drill.providers.base import (
    DirectoryVolumes,
    ScratchBase,
    deferred_interrupts,
    new_workdir,
    remove_tree,
)
from drkit.sandbox import realnode
from drkit.sandbox.controlplane import STARTUP_TIMEOUT, ControlPlane


class LocalCluster(ScratchBase):
    provider = "local"
    service_proxy = False
    service_proxy_reason = "kwok nodes run no containers: a Service proxy has no endpoint to reach"

    def __init__(
        self,
        *,
        nodes: int = 1,
        real_nodes: int = 0,
        images: Sequence[Path] = (),
        temp_root: Path | None = None,
        timeout: float = STARTUP_TIMEOUT,
    ):
        super().__init__()
        self.nodes = 0 if real_nodes else nodes
        self.real_nodes = real_nodes
        self.images = tuple(images)
        if real_nodes:  # containers run: a Service has endpoints the API server can proxy to
            self.service_proxy = True
            self.service_proxy_reason = ""
        self.temp_root = temp_root
        self.timeout = timeout
        self.workdir: Path | None = None
        self.plane: ControlPlane | None = None

    def _up(self) -> Path:
        with deferred_interrupts():  # the dir and its path, never one without the other
            self.workdir = new_workdir(self.id, self.temp_root)
        self.volumes = DirectoryVolumes(self.workdir / "volumes")
        images = self.images or (realnode.default_images() if self.real_nodes else ())
        self.plane = ControlPlane.start(
            self.workdir / "cluster",
            nodes=self.nodes,
            real_nodes=self.real_nodes,
            images=images,
            volume_root=self.workdir / "volumes",  # a restored claim's PV: where its data was restored
            timeout=self.timeout,
        )
        return self.plane.kubeconfig

    def _down(self) -> None:
        try:
            if self.plane is not None:
                self.plane.stop()
        finally:
            remove_tree(self.workdir)

    def pids(self) -> list[int]:
        return [c.pid for c in self.plane.components] if self.plane is not None else []

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.plane is not None:
            out["server"] = self.plane.server
            out["nodes"] = list(self.plane.nodes)
            out["realNodes"] = [n.name for n in self.plane.real_nodes]
            out["workdir"] = str(self.workdir)
            out["pids"] = self.pids()
        return out
