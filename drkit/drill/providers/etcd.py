"""``etcd``: restore the snapshot's etcd database into a fresh etcd and boot kube-apiserver on it.

Not available yet: it needs ``drkit restore etcd`` and a way to boot the sandbox's API server on an
existing etcd (the restore issue). Until then asking for it is a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drkit.drill.providers.base import ScratchBase
from drkit.errors import NotImplementedYet


class EtcdScratch(ScratchBase):
    provider = "etcd"

    def __init__(self, **_: Any) -> None:
        super().__init__()
        raise NotImplementedYet(
            "the etcd drill provider is not available yet: it needs `drkit restore etcd` and an API server "
            "booted on a restored etcd (the restore issue)",
            hint="use --provider local, kind or kubeconfig",
        )

    def _up(self) -> Path:  # pragma: no cover - not reachable until the provider exists
        raise NotImplementedError

    def _down(self) -> None:
        return None
