"""Test infrastructure: real servers (etcd, S3, Kubernetes) started on loopback for the tests."""
