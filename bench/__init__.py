"""Benchmarks of drkit's file-tree backup against restic, kopia and borg (``python -m bench``)."""
