"""The engines that work on a repository: backup, snapshot writer and reader, restore, verify, prune.

Each engine takes the small part of the repository it needs; none of them is imported by
``drkit.repo.format``.
"""
