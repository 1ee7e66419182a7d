"""S3Options: how to reach an S3 bucket, and ``s3_url``: the canonical URL of a bucket with its options.
Plain data, no boto3 (``drkit.storage.s3`` and ``drkit.storage.url`` use it)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote, urlencode

from drkit.errors import ConfigError
from drkit.secret import Secret
from drkit.storage.base import LockMode


@dataclass(frozen=True)
class S3Options:
    """Connection settings for ``S3Store``. ``None`` means "not set": the AWS chain or a default decides.

    Credentials, in order: ``access_key`` + ``secret_key`` (+ ``session_token``) if given, else the
    named ``profile``, else the standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
    ``AWS_PROFILE``, the shared files, instance or pod identity).
    """

    endpoint: str | None = None  # http(s)://host:port of a non-AWS server; None: AWS
    region: str | None = None  # None: from the profile/AWS_REGION, else us-east-1
    path_style: bool | None = None  # None: path style when an endpoint is given, else virtual host
    ca_bundle: Path | None = None  # a PEM file of CAs to trust for https
    profile: str | None = None
    access_key: str | None = None
    secret_key: Secret | None = None
    session_token: Secret | None = None
    bypass_governance: bool = False  # send BypassGovernanceRetention on delete (admin credentials)
    default_mode: LockMode = LockMode.GOVERNANCE  # for extend_retention of an object without one

    def __post_init__(self) -> None:
        if (self.access_key is None) != (self.secret_key is None):
            raise ConfigError("access_key and secret_key go together", field="s3.secret_key")

    def set_fields(self) -> dict[str, object]:
        """The fields that differ from the defaults."""
        default = S3Options()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


def s3_url(bucket: str, prefix: str, options: S3Options) -> str:
    """The canonical URL of a bucket and prefix with its non-secret options."""
    query: dict[str, str] = {}
    if options.endpoint:
        query["endpoint"] = options.endpoint
    if options.region:
        query["region"] = options.region
    if options.path_style is not None:
        query["path_style"] = "true" if options.path_style else "false"
    if options.ca_bundle:
        query["ca_bundle"] = str(options.ca_bundle)
    if options.profile:
        query["profile"] = options.profile
    path = f"/{quote(prefix)}" if prefix else ""
    return f"s3://{bucket}{path}" + (f"?{urlencode(query)}" if query else "")
