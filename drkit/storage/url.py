"""Repository URLs: which store, where, and how to reach it.

Forms:

* ``/abs/path``, ``rel/path`` or ``file:///abs/path`` -> ``LocalStore``.
* ``s3://bucket[/prefix][?option=value&...]`` -> ``S3Store`` wrapped in ``RetryingStore``. Options:
  ``endpoint`` (http(s)://host:port), ``region``, ``path_style`` (true/false), ``ca_bundle`` (a PEM
  file), ``profile``. Credentials never go in a URL: they come from ``S3Options`` or the AWS chain.

Errors are ``ConfigError`` naming the part of the URL at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from drkit.errors import ConfigError
from drkit.storage.base import Store
from drkit.storage.errors import InvalidKey
from drkit.storage.options import S3Options, s3_url
from drkit.storage.validate import check_key

URL_OPTIONS = ("endpoint", "region", "path_style", "ca_bundle", "profile")
_SECRET_OPTIONS = ("access_key", "secret_key", "session_token", "aws_access_key_id", "aws_secret_access_key")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class LocalLocation:
    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "a/b" (no leading or trailing slash)
    options: S3Options

    @property
    def url(self) -> str:
        return s3_url(self.bucket, self.prefix, self.options)


def parse_url(url: str, options: S3Options | None = None) -> LocalLocation | S3Location:
    """Parse a repository URL. ``options`` add to (and must not contradict) the URL's query options."""
    if not url or not url.strip():
        raise ConfigError("the repository URL is empty", field="repository")
    if "://" not in url and not url.startswith("file:"):
        if options is not None and options.set_fields():
            raise ConfigError("S3 options given for a local directory", field="repository")
        return LocalLocation(Path(url).expanduser().absolute())
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _parse_file(url, parts.netloc, parts.path, parts.query, options)
    if parts.scheme == "s3":
        return _parse_s3(url, parts, options)
    raise ConfigError(
        f"unsupported scheme {parts.scheme!r} in {_redact(url)!r}",
        field="repository",
        hint="use a directory path, file:///abs/path or s3://bucket/prefix",
    )


def open_store(url: str, options: S3Options | None = None) -> Store:
    """The store a URL names. S3 stores come wrapped in ``RetryingStore``. Connects lazily."""
    location = parse_url(url, options)
    if isinstance(location, LocalLocation):
        from drkit.storage.local import LocalStore

        return LocalStore(location.path)
    from drkit.storage.retry import RetryingStore
    from drkit.storage.s3 import S3Store

    return RetryingStore(S3Store(location.bucket, location.prefix, location.options))


def describe(url: str, options: S3Options | None = None) -> str:
    """The canonical form of a URL, without secrets: for messages, logs and status output."""
    return parse_url(url, options).url


def _parse_file(url: str, netloc: str, path: str, query: str, options: S3Options | None) -> LocalLocation:
    if netloc not in ("", "localhost"):
        raise ConfigError(f"file URL {url!r} names host {netloc!r}; only local paths", field="repository")
    if query:
        raise ConfigError(f"file URL {url!r} takes no options", field="repository")
    if options is not None and options.set_fields():
        raise ConfigError("S3 options given for a local directory", field="repository")
    local = Path(unquote(path))
    if not local.is_absolute():
        raise ConfigError(f"file URL {url!r} needs an absolute path (file:///abs/path)", field="repository")
    return LocalLocation(local)


def _parse_s3(url: str, parts: SplitResult, options: S3Options | None) -> S3Location:
    shown = _redact(url)
    netloc, path, query, fragment = parts.netloc, parts.path, parts.query, parts.fragment
    if "@" in netloc:
        raise ConfigError(
            f"credentials in the URL {shown!r}",
            field="repository",
            hint="pass them as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile",
        )
    bucket = netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(f"{bucket!r} is not a valid bucket name in {shown!r}", field="repository.bucket")
    if fragment:
        raise ConfigError(f"unexpected '#{fragment}' in {shown!r}", field="repository")
    prefix = unquote(path).strip("/")
    if prefix:
        try:
            check_key(prefix)
        except InvalidKey as exc:
            raise ConfigError(f"bad prefix in {shown!r}: {exc}", field="repository.prefix") from exc
    from_url = _query_options(query, shown)
    merged = _merge(options or S3Options(), from_url)
    return S3Location(bucket, prefix, merged)


def _query_options(query: str, shown: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        field = f"repository.{name}"
        if name.lower() in _SECRET_OPTIONS:
            raise ConfigError(
                "credentials do not go in the repository URL",
                field=field,
                hint="use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or the S3 options",
            )
        if name not in URL_OPTIONS:
            raise ConfigError(f"unknown option in {shown!r}; known: {', '.join(URL_OPTIONS)}", field=field)
        if name in values:
            raise ConfigError("given twice", field=field)
        if not value:
            raise ConfigError("empty value", field=field)
        values[name] = _convert(name, value, field)
    return values


def _convert(name: str, value: str, field: str) -> Any:
    if name == "path_style":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{value!r} is not true or false", field=field)
    if name == "endpoint":
        ep = urlsplit(value)
        if ep.scheme not in ("http", "https") or not ep.hostname or ep.path not in ("", "/") or ep.query:
            raise ConfigError(f"{value!r} is not http(s)://host[:port]", field=field)
        try:
            ep.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(f"{value!r} has a bad port", field=field) from exc
        if ep.username or ep.password:
            raise ConfigError("credentials in the endpoint URL", field=field)
        return value.rstrip("/")
    if name == "ca_bundle":
        bundle = Path(value).expanduser()
        if not bundle.is_file():
            raise ConfigError(f"CA bundle {value!r} is not a file", field=field)
        return bundle
    return value


def _merge(options: S3Options, from_url: dict[str, Any]) -> S3Options:
    for name, value in from_url.items():
        given = getattr(options, name)
        if given is not None and given != value:
            raise ConfigError(
                f"the URL says {value!r} but the options say {given!r}", field=f"repository.{name}"
            )
    if options.endpoint and "endpoint" not in from_url:
        _convert("endpoint", options.endpoint, "s3.endpoint")
    if options.ca_bundle and "ca_bundle" not in from_url:
        _convert("ca_bundle", str(options.ca_bundle), "s3.ca_bundle")
    return replace(options, **from_url)


def _redact(url: str) -> str:
    """``url`` with any userinfo and query values that could be secrets masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{k}=***" if k.lower() in _SECRET_OPTIONS else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return parts._replace(netloc=netloc, query=query).geturl()
