"""drkit.restore."""
