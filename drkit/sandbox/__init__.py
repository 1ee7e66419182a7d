"""drkit.sandbox."""
