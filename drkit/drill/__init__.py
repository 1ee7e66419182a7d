"""drkit.drill."""
