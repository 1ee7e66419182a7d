"""Repository URLs: what each form opens, and clear ConfigErrors naming the field for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.errors import ConfigError
from drkit.secret import Secret
from drkit.storage.local import LocalStore
from drkit.storage.options import S3Options
from drkit.storage.retry import RetryingStore
from drkit.storage.s3 import S3Store
from drkit.storage.url import LocalLocation, S3Location, describe, open_store, parse_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/srv/backups", Path("/srv/backups")),
        ("file:///srv/backups", Path("/srv/backups")),
        ("file://localhost/srv/backups", Path("/srv/backups")),
        ("file:///srv/with%20space", Path("/srv/with space")),
    ],
)
def test_local_forms(url: str, path: Path) -> None:
    assert parse_url(url) == LocalLocation(path)


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_url("backups") == LocalLocation(tmp_path / "backups")


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "options"),
    [
        ("s3://bucket", "bucket", "", S3Options()),
        ("s3://bucket/", "bucket", "", S3Options()),
        ("s3://my.bucket-1/a/b/", "my.bucket-1", "a/b", S3Options()),
        (
            "s3://b12/p?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true",
            "b12",
            "p",
            S3Options(endpoint="http://127.0.0.1:9000", region="eu-west-1", path_style=True),
        ),
        (
            "s3://b12?path_style=false&profile=backup",
            "b12",
            "",
            S3Options(path_style=False, profile="backup"),
        ),
        (
            "s3://b12?endpoint=https://s3.example.com/",
            "b12",
            "",
            S3Options(endpoint="https://s3.example.com"),
        ),
    ],
)
def test_s3_forms(url: str, bucket: str, prefix: str, options: S3Options) -> None:
    assert parse_url(url) == S3Location(bucket, prefix, options)


def test_a_ca_bundle_must_be_a_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    assert parse_url(f"s3://bkt?ca_bundle={ca}") == S3Location("bkt", "", S3Options(ca_bundle=ca))
    with pytest.raises(ConfigError) as err:
        parse_url(f"s3://bkt?ca_bundle={tmp_path / 'missing.pem'}")
    assert err.value.field == "repository.ca_bundle"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("", "repository"),
        ("   ", "repository"),
        ("ftp://host/x", "repository"),
        ("file://otherhost/x", "repository"),
        ("file:relative/x", "repository"),
        ("file:///x?opt=1", "repository"),
        ("s3://AB", "repository.bucket"),
        ("s3://", "repository.bucket"),
        ("s3://a..b", "repository.bucket"),
        ("s3://bucket/a//b", "repository.prefix"),
        ("s3://bucket/a/../b", "repository.prefix"),
        ("s3://bucket#frag", "repository"),
        ("s3://key:secret@bucket/p", "repository"),
        ("s3://bucket?access_key=AKIA", "repository.access_key"),
        ("s3://bucket?secret_key=x", "repository.secret_key"),
        ("s3://bucket?colour=blue", "repository.colour"),
        ("s3://bucket?region=", "repository.region"),
        ("s3://bucket?region=a&region=b", "repository.region"),
        ("s3://bucket?path_style=maybe", "repository.path_style"),
        ("s3://bucket?endpoint=127.0.0.1:9000", "repository.endpoint"),
        ("s3://bucket?endpoint=ftp://h", "repository.endpoint"),
        ("s3://bucket?endpoint=http://h:99999", "repository.endpoint"),
        ("s3://bucket?endpoint=http://h/path", "repository.endpoint"),
        ("s3://bucket?endpoint=http://u:p@h", "repository.endpoint"),
    ],
)
def test_bad_urls_name_the_field(url: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_url(url)
    assert err.value.field == field
    assert "secret" not in str(err.value).replace("secret_key", "")  # never echoes a secret value


def test_options_merge_with_the_url_and_must_not_contradict_it() -> None:
    opts = S3Options(region="eu-west-1", access_key="AK", secret_key=Secret("sk"))
    loc = parse_url("s3://bkt/p?endpoint=http://127.0.0.1:1", opts)
    assert isinstance(loc, S3Location)
    assert loc.options.region == "eu-west-1"
    assert loc.options.endpoint == "http://127.0.0.1:1"
    assert loc.options.access_key == "AK"
    with pytest.raises(ConfigError) as err:
        parse_url("s3://bkt/p?region=us-east-2", opts)
    assert err.value.field == "repository.region"
    with pytest.raises(ConfigError):
        parse_url("/local/dir", opts)
    with pytest.raises(ConfigError) as err:
        parse_url("s3://bkt", S3Options(endpoint="localhost:9000"))
    assert err.value.field == "s3.endpoint"
    with pytest.raises(ConfigError) as err:
        parse_url("s3://bkt", S3Options(ca_bundle=Path("/no/such/ca.pem")))
    assert err.value.field == "s3.ca_bundle"


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        S3Options(access_key="AK")
    assert err.value.field == "s3.secret_key"


def test_describe_never_shows_credentials() -> None:
    opts = S3Options(
        access_key="AKIDEXAMPLE", secret_key=Secret("wJalrXUtnFEMI"), session_token=Secret("tok")
    )
    text = describe("s3://bkt/a/b?endpoint=http://127.0.0.1:9000&path_style=true", opts)
    assert text == "s3://bkt/a/b?endpoint=http%3A%2F%2F127.0.0.1%3A9000&path_style=true"
    assert "AKIDEXAMPLE" not in text
    assert "wJalr" not in text
    assert parse_url(text) == parse_url("s3://bkt/a/b?endpoint=http://127.0.0.1:9000&path_style=true")
    assert describe("/srv/x") == "file:///srv/x"


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    local = open_store(str(tmp_path))
    assert isinstance(local, LocalStore)
    assert local.root == tmp_path
    remote = open_store(
        "s3://bkt/pre?endpoint=http://127.0.0.1:9&region=us-east-1",
        S3Options(access_key="AK", secret_key=Secret("SK")),
    )
    assert isinstance(remote, RetryingStore)
    assert isinstance(remote.inner, S3Store)
    assert (remote.inner.bucket, remote.inner.prefix) == ("bkt", "pre")
    assert remote.url == "s3://bkt/pre?endpoint=http%3A%2F%2F127.0.0.1%3A9&region=us-east-1"
    assert "SK" not in repr(remote)


def test_an_unknown_profile_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(ConfigError) as err:
        open_store("s3://bkt?profile=nope")
    assert err.value.field == "s3.profile"
