"""drkit.config."""
