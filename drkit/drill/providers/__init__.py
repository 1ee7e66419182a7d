"""Scratch clusters for drills: ``local`` (the project's binaries), ``kind``, ``kubeconfig`` (an existing
cluster, in prefixed namespaces) and ``etcd``. See :mod:`drkit.drill.providers.base`.

``make_provider`` lives here, above the providers, so that ``base`` (which every provider imports)
imports none of them. Each provider is imported only when asked for: ``kind`` and ``local`` pull in
the sandbox.
"""

from __future__ import annotations

from typing import Any

from drkit.drill.providers.base import PROVIDERS, ScratchCluster
from drkit.errors import ConfigError

__all__ = ["PROVIDERS", "ScratchCluster", "make_provider"]


def make_provider(name: str, **options: Any) -> ScratchCluster:
    """A provider by name; ``options`` are its constructor's keyword arguments."""
    if name == "local":
        from drkit.drill.providers.local import LocalCluster

        return LocalCluster(**options)
    if name == "kind":
        from drkit.drill.providers.kind import KindCluster

        return KindCluster(**options)
    if name == "kubeconfig":
        from drkit.drill.providers.kubeconfig import ExistingCluster

        return ExistingCluster(**options)
    if name == "etcd":
        from drkit.drill.providers.etcd import EtcdScratch

        return EtcdScratch(**options)
    raise ConfigError(f"unknown provider {name!r}: one of {', '.join(PROVIDERS)}", field="provider")
