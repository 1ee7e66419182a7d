"""The repository's on-disk format: how each object is encoded, sealed, named, written and read back.

Nothing here imports ``drkit.repo.engine`` or the ``Repository`` facade (import-linter, pyproject.toml).
"""
