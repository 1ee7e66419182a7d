"""Open the repository a schedule or a restore plan names (``spec.repository``): its store, with the
file's S3 settings, and its credential (the files it names, else the environment's
``DRKIT_PASSWORD_FILE``, ``DRKIT_PASSWORD``, ``DRKIT_KEY_FILE``). Used by the daemon's runs and its
drills; the CLI merges the same settings under its flags (``drkit.cli.repoopts.with_settings``)."""

from __future__ import annotations

from drkit.config.schedule import RepositorySettings
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.storage.url import open_store


def open_repository(settings: RepositorySettings) -> Repository:
    """The repository ``settings`` describe, opened with their credential."""
    store = open_store(settings.url, settings.s3_options())
    return Repository.open(store, Credential.from_env_and_options(settings.password_file, settings.key_file))
