"""``spec.repository`` of schedules and restore plans: one document model
(:class:`drkit.config.model.Repository`), one reader (:func:`repository_settings`), one result
(:class:`RepositorySettings`), so that both file kinds name a repository the same way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from drkit.config import model
from drkit.config.yamlsource import Node, bare_message
from drkit.errors import ConfigError
from drkit.storage.options import S3Options


@dataclass(frozen=True)
class RepositorySettings:
    url: str  # a local repository's path is absolute (resolved against the file's directory)
    password_file: Path | None = None
    key_file: Path | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_path_style: bool | None = None
    s3_ca_bundle: Path | None = None
    s3_profile: str | None = None

    def s3_options(self) -> S3Options:
        """The S3 connection settings (``spec.repository.s3``); all unset for a local repository.
        The one place a file's repository settings become ``S3Options``."""
        return S3Options(
            endpoint=self.s3_endpoint,
            region=self.s3_region,
            path_style=self.s3_path_style,
            ca_bundle=self.s3_ca_bundle,
            profile=self.s3_profile,
        )


def repository_settings(doc: model.Repository, node: Node, *, base: Path, file: str) -> RepositorySettings:
    """``spec.repository`` as its model validated it (``node``: its YAML, for the lines of errors) of
    the file ``file``: relative paths (a local repository's, the password and key files, the CA
    bundle) taken against ``base``, the file's directory. The URL is checked by the storage layer's
    own rules (bucket names, prefixes, endpoint form, no credentials); files are not looked at (a
    schedule can be checked away from where it runs)."""
    url = doc.url
    if "://" not in url and not url.startswith("file:"):
        url = str((base / url).absolute())
    s3 = doc.s3 or model.S3()
    settings = RepositorySettings(
        url=url,
        password_file=_path(base, doc.password_file),
        key_file=_path(base, doc.key_file),
        s3_endpoint=s3.endpoint,
        s3_region=s3.region,
        s3_path_style=s3.path_style,
        s3_ca_bundle=_path(base, s3.ca_bundle),
        s3_profile=s3.profile,
    )
    _check_url(settings, node, file)
    return settings


def _path(base: Path, text: str | None) -> Path | None:
    return None if text is None else base / text


def _check_url(settings: RepositorySettings, node: Node, file: str) -> None:
    from drkit.storage.url import parse_url

    def error(at: Node, field: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=file, line=at.line, field=f"spec.repository.{field}", hint=hint)

    entries = node.value if isinstance(node.value, dict) else {}
    s3 = entries.get("s3")
    s3_entries = s3.value if s3 is not None and isinstance(s3.value, dict) else {}
    endpoint = s3_entries.get("endpoint")
    options = replace(settings.s3_options(), ca_bundle=None)
    try:
        parse_url(settings.url, options if options.set_fields() or settings.s3_ca_bundle else None)
    except ConfigError as exc:
        if s3 is not None and s3.value is not None and "S3 options" in exc.message:
            raise error(s3, "s3", "S3 settings given for a local repository") from None
        if exc.field == "s3.endpoint" and endpoint is not None and endpoint.value is not None:
            raise error(endpoint, "s3.endpoint", bare_message(exc), exc.hint) from None
        raise error(entries["url"], "url", bare_message(exc), exc.hint) from None
