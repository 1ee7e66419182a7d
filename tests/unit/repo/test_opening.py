"""The one way a file's ``spec.repository`` becomes S3 options and an open repository
(``RepositorySettings.s3_options``, ``drkit.repo.opening.open_repository``), shared by the daemon's
runs, its drills and the CLI's ``--plan``/``--schedule`` defaults."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from drkit.config.schedule import RepositorySettings
from drkit.errors import ConfigError
from drkit.repo.format.keyslots import Credential
from drkit.repo.opening import open_repository
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.options import S3Options
from drkit.storage.url import open_store

PASSWORD = "opening test passphrase"
GIVEN: dict[str, object] = {
    "s3_endpoint": "https://s3.example.test:9000",
    "s3_region": "eu-central-1",
    "s3_path_style": True,
    "s3_ca_bundle": Path("/etc/ssl/ca.pem"),
    "s3_profile": "backup",
}


def test_every_s3_setting_of_a_file_reaches_s3_options() -> None:
    """Each ``s3_*`` field has its ``S3Options`` field: a setting added on one side only fails here."""
    s3_fields = {f.name for f in dataclasses.fields(RepositorySettings) if f.name.startswith("s3_")}
    assert s3_fields == set(GIVEN)
    options = RepositorySettings(url="s3://bucket/prefix", **GIVEN).s3_options()  # type: ignore[arg-type]
    assert {name: getattr(options, name.removeprefix("s3_")) for name in GIVEN} == GIVEN
    assert options.set_fields().keys() == {name.removeprefix("s3_") for name in GIVEN}
    assert RepositorySettings(url="/backups/repo").s3_options() == S3Options()


def _init(path: Path) -> None:
    Repository.init(
        open_store(str(path)),
        Credential(passphrase=Secret(PASSWORD)),
        lock_mode=None,
        retention=timedelta(days=1),
        scrypt_n=1024,
    )


def test_open_repository_uses_the_files_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DRKIT_PASSWORD", "DRKIT_PASSWORD_FILE", "DRKIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    _init(tmp_path / "repo")
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    repo = open_repository(RepositorySettings(url=str(tmp_path / "repo"), password_file=password))
    assert repo.snapshots() == []
    with pytest.raises(ConfigError):  # no credential in the file nor in the environment
        open_repository(RepositorySettings(url=str(tmp_path / "repo")))


def test_s3_settings_for_a_local_repository_are_refused(tmp_path: Path) -> None:
    settings = RepositorySettings(url=str(tmp_path / "repo"), s3_region="eu-central-1")
    with pytest.raises(ConfigError, match="S3 options given for a local directory"):
        open_repository(settings)
