"""pytest fixtures: real S3 Object Lock servers (MinIO and SeaweedFS) on loopback.

- ``s3_server`` (session): one running server per kind, parametrised ``minio`` / ``seaweedfs``.
- ``s3`` (function): the same server seen through a fresh Object Lock bucket (``s3.bucket``), so a
  test never sees another test's objects. It is a copy of the session's ``S3Server``: do not call
  ``stop()`` on it.
- ``boto3_client(server, creds)``: a boto3 S3 client for tests (path-style, one attempt, no retries
  hiding an error code).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from drkit.errors import MissingComponent
from drkit.sandbox import minio, seaweedfs
from drkit.sandbox.s3server import S3Credentials, S3Server
from tests.infra.plugin import missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_KINDS = ["minio", "seaweedfs"]

# The error code a server answers when Object Lock (not the caller's policy) refuses a delete or a
# shorter retention. AWS and SeaweedFS say AccessDenied (403); MinIO says InvalidRequest (400,
# "Object is WORM protected and cannot be overwritten").
LOCKED_ERROR_CODES = {"minio": "InvalidRequest", "seaweedfs": "AccessDenied"}
_STARTERS: dict[str, Callable[[Path], S3Server]] = {"minio": minio.start, "seaweedfs": seaweedfs.start}


@pytest.fixture(scope="session", params=S3_KINDS, ids=S3_KINDS)
def s3_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    kind: str = request.param
    try:
        server = _STARTERS[kind](tmp_path_factory.mktemp(f"s3-{kind}"))
    except MissingComponent as exc:
        missing(str(exc), exc.hint or "run `make testbin`")
        raise  # unreachable: missing() skips or fails
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, request: pytest.FixtureRequest) -> S3Server:
    """The session's server with ``bucket`` set to a new Object Lock bucket for this test."""
    name = bucket_name(request.node.name)
    s3_server.create_bucket(name, object_lock=True)
    return dataclasses.replace(s3_server, bucket=name)


def bucket_name(hint: str) -> str:
    """A valid, unique bucket name that says which test made it."""
    stem = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-") or "t"
    return f"{stem}-{secrets.token_hex(4)}"


def locked_error_code(server: S3Server) -> str:
    return LOCKED_ERROR_CODES[server.kind]


def boto3_client(server: S3Server, creds: S3Credentials) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=str(creds.secret_key.reveal()),
        aws_session_token=None if creds.session_token is None else str(creds.session_token.reveal()),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )
