"""Real S3 Object Lock servers on loopback (MinIO, SeaweedFS): the common shape and a tiny signed client.

Each server comes with two credentials that the *server* restricts:

- ``admin``: full rights (creates buckets, may bypass GOVERNANCE retention);
- ``writer``: what a backup writer needs and nothing more: put objects (with retention), extend
  retention, get/head objects and versions, list; no delete, no governance bypass, no bucket changes.

The sandbox sits below ``drkit.storage`` in the layers and may not import boto3, so the few admin
calls it needs (create a bucket, MinIO's STS AssumeRole) are signed here with SigV4 by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from drkit.deadline import Deadline
from drkit.errors import SandboxError
from drkit.sandbox.process import Process
from drkit.secret import Secret

T = TypeVar("T")

REGION = "us-east-1"
DEFAULT_BUCKET = "drkit"
TIMEOUT = 10.0


# The writer's policy: exactly docs/iam/writer-policy.json (tests/unit/test_sandbox_policy.py compares
# them), with its bucket ``drkit-backups`` replaced. What a backup writer may do: write objects with
# retention, extend retention, read, list, abort its multipart uploads; the Deny keeps a broader grant
# from ever adding delete, bypass or bucket changes back.
DOCUMENTED_BUCKET = "drkit-backups"
WRITER_BUCKET_ACTIONS = [
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
]
WRITER_OBJECT_ACTIONS = [
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
]
WRITER_DENY = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectLegalHold",
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketNotification",
    "s3:PutBucketTagging",
]


def writer_policy(bucket: str = "*") -> dict[str, object]:
    """The IAM policy document of the writer credential: docs/iam/writer-policy.json for ``bucket``
    (``*``: any bucket, as the sandbox and the tests create buckets after the writer)."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    objects_arn = f"{bucket_arn}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DrkitWriterBucket",
                "Effect": "Allow",
                "Action": list(WRITER_BUCKET_ACTIONS),
                "Resource": bucket_arn,
            },
            {
                "Sid": "DrkitWriterObjects",
                "Effect": "Allow",
                "Action": list(WRITER_OBJECT_ACTIONS),
                "Resource": objects_arn,
            },
            {
                "Sid": "DrkitWriterNeverDeletesOrReconfigures",
                "Effect": "Deny",
                "Action": list(WRITER_DENY),
                "Resource": [bucket_arn, objects_arn],
            },
        ],
    }


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: Secret
    session_token: Secret | None = None


@dataclass
class S3Server:
    """One running S3 server. ``bucket`` has Object Lock enabled (and so versioning)."""

    kind: str  # "minio" | "seaweedfs"
    endpoint: str  # "http://127.0.0.1:PORT"
    region: str
    bucket: str
    admin: S3Credentials
    writer: S3Credentials
    workdir: Path
    stop_timeout: float = 10.0  # SIGTERM grace before SIGKILL
    processes: list[Process] = field(default_factory=list, repr=False)
    leftovers: list[Path] = field(default_factory=list, repr=False)  # files to remove after stop

    def create_bucket(self, name: str, object_lock: bool = True) -> None:
        """Create bucket ``name`` as admin; with ``object_lock`` it also has versioning enabled."""
        headers = {"x-amz-bucket-object-lock-enabled": "true"} if object_lock else {}
        status, _, body = s3_request(self.endpoint, self.admin, "PUT", f"/{name}", headers=headers)
        if status != 200:
            raise SandboxError(f"{self.kind}: creating bucket {name!r} failed: {describe(status, body)}")

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def alive(self) -> bool:
        return all(p.alive() for p in self.processes)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(self.stop_timeout)
        for path in self.leftovers:
            path.unlink(missing_ok=True)


def random_credentials(prefix: str) -> S3Credentials:
    """A fresh access key (``prefix`` + random, alphanumeric) and a 40-character secret."""
    return S3Credentials(
        access_key=f"{prefix}{secrets.token_hex(8)}", secret_key=Secret(secrets.token_urlsafe(30))
    )


def retry_until(call: Callable[[], T], *, process: Process, timeout: float, interval: float = 0.1) -> T:
    """``call()`` until it stops raising ``SandboxError`` (a server still initialising); then its
    last error, with the end of the process's log."""
    last = SandboxError(f"no attempt within {timeout:.0f}s")
    for _ in Deadline(timeout).polls(interval):
        try:
            return call()
        except SandboxError as exc:
            last = exc
            if not process.alive():
                break
    raise SandboxError(f"{last.message}\nlog {process.log_path}:\n{process.tail()}") from last


# --- a minimal SigV4 client -----------------------------------------------------------------------


def s3_request(
    endpoint: str,
    creds: S3Credentials,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    service: str = "s3",
    region: str = REGION,
    timeout: float = TIMEOUT,
) -> tuple[int, dict[str, str], bytes]:
    """Send one SigV4-signed request; return status, headers (lower-case names) and body.

    HTTP errors are returned, not raised: the caller reads the S3 error code with ``error_code``.
    A server that cannot be reached raises ``SandboxError``.
    """
    url = urllib.parse.urlsplit(endpoint)
    signed = sign_v4(
        creds,
        method,
        url.netloc,
        path,
        query=query or {},
        headers=headers or {},
        body=body,
        service=service,
        region=region,
        now=dt.datetime.now(dt.UTC),
    )
    qs = canonical_query(query or {})
    full = f"{endpoint}{quote_path(path)}" + (f"?{qs}" if qs else "")
    data = body if body or method in ("PUT", "POST") else None
    req = urllib.request.Request(full, data=data, method=method)  # noqa: S310 - loopback URL
    for name, value in signed.items():
        if name != "host":
            req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback URL built here
            return int(resp.status), {k.lower(): v for k, v in resp.headers.items()}, bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), {k.lower(): v for k, v in exc.headers.items()}, bytes(exc.read())
    except OSError as exc:  # URLError, refused, reset, timeout
        raise SandboxError(f"{method} {endpoint}{path}: {exc}") from exc


def sign_v4(
    creds: S3Credentials,
    method: str,
    host: str,
    path: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    region: str,
    now: dt.datetime,
) -> dict[str, str]:
    """The headers of a request signed with AWS Signature Version 4 (header form, signed payload)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(body).hexdigest()
    out = {k.lower(): v.strip() for k, v in headers.items()}
    out["host"] = host
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_hash
    if creds.session_token is not None:
        out["x-amz-security-token"] = str(creds.session_token.reveal())
    names = sorted(out)
    canonical = "\n".join(
        [
            method,
            quote_path(path),
            canonical_query(query),
            "".join(f"{n}:{out[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + str(creds.secret_key.reveal())).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def quote_path(path: str) -> str:
    return urllib.parse.quote(path or "/", safe="/-_.~")


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query.items())
    )


def xml_find(body: bytes, tag: str) -> str | None:
    """The text of the first element named ``tag`` (any namespace) in an XML document."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - a reply from a loopback server drkit started
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag == tag or el.tag.endswith("}" + tag):
            return el.text or ""
    return None


def error_code(body: bytes) -> str | None:
    return xml_find(body, "Code")


def describe(status: int, body: bytes) -> str:
    code = error_code(body)
    message = xml_find(body, "Message")
    if code:
        return f"HTTP {status} {code}: {message or ''}".rstrip(": ")
    return f"HTTP {status}: {body[:300].decode(errors='replace')}"
