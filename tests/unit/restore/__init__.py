"""Unit tests of drkit.restore (no I/O)."""
