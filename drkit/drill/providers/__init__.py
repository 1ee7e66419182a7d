"""Scratch clusters for drills: ``local`` (the project's binaries), ``kind``, ``kubeconfig`` (an existing
cluster, in prefixed namespaces) and ``etcd``. See :mod:`drkit.drill.providers.base`."""

from __future__ import annotations

from drkit.drill.providers.base import PROVIDERS, ScratchCluster, make_provider

__all__ = ["PROVIDERS", "ScratchCluster", "make_provider"]
