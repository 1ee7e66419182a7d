"""drkit.etcd."""
