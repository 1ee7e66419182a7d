"""drkit.repo."""
