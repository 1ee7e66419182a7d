"""drkit.kube."""
