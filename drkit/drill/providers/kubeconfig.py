"""``kubeconfig``: drill into an existing cluster. Every restored namespace is mapped to
``drill-<id>-<namespace>`` (through the plan's namespace mapping) and deleted afterwards.

Only namespaced objects are cleaned up: restore no cluster-scoped objects into a shared cluster
(``scope.includeClusterResources: false``), or accept that they stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drkit.drill.providers.base import ScratchBase
from drkit.errors import ConfigError
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeNotFound

MAX_NAMESPACE = 63


def prefixed(prefix: str, namespace: str) -> str:
    """``prefix + namespace``, shortened with a hash when longer than a namespace name may be."""
    name = f"{prefix}{namespace}"
    if len(name) <= MAX_NAMESPACE:
        return name
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAMESPACE - 9].rstrip('-')}-{digest}"


class ExistingCluster(ScratchBase):
    provider = "kubeconfig"

    def __init__(
        self, *, kubeconfig: Path | None = None, context: str | None = None, prefix: str | None = None
    ):
        super().__init__()
        self.path = kubeconfig
        self.context = context
        self.prefix = prefix or f"drill-{self.id}-"
        self.mapped: dict[str, str] = {}

    def _up(self) -> Path:
        if self.path is None:
            env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
            self.path = Path(env) if env else Path.home() / ".kube" / "config"
        if not self.path.is_file():
            raise ConfigError(
                f"no kubeconfig at {self.path}",
                field="--kubeconfig",
                hint="pass --kubeconfig or set KUBECONFIG",
            )
        with KubeClient.from_kubeconfig(self.path, self.context) as kube:  # fail early on a bad file
            kube.get_json("/version")
        return self.path

    def namespace_map(self, namespaces: Sequence[str]) -> dict[str, str]:
        for ns in namespaces:
            self.mapped[ns] = prefixed(self.prefix, ns)
        return dict(self.mapped)

    def _down(self) -> None:
        if not self.mapped:
            return
        with KubeClient.from_kubeconfig(self.path, self.context) as kube:
            for target in sorted(set(self.mapped.values())):
                with contextlib.suppress(KubeNotFound):
                    kube.request("DELETE", f"/api/v1/namespaces/{quote(target, safe='')}")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "context": self.context, "namespacePrefix": self.prefix}
