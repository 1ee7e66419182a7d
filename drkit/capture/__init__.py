"""drkit.capture."""
