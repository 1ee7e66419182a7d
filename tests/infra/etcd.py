"""pytest fixtures: etcd (being written)."""

from __future__ import annotations
