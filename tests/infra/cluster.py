"""pytest fixtures: cluster (being written)."""

from __future__ import annotations
