"""pytest fixtures: s3 (being written)."""

from __future__ import annotations
