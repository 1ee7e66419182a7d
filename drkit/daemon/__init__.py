"""drkit.daemon."""
