"""Object storage: the Store protocol, its backends (local directory, S3 Object Lock) and wrappers."""
