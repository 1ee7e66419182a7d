"""S3Store: a bucket (and prefix) with Object Lock, through boto3. The only module that imports boto3.

Every put carries the retention (``ObjectLockMode`` + ``ObjectLockRetainUntilDate``), a SHA-256
checksum the server verifies (``x-amz-checksum-sha256``), and ``If-None-Match: *`` so that a key is
written once. Versions are kept by the bucket: an overwrite by someone else adds a version and the
locked original stays readable by its version id.

Errors are classified here, at the boundary (``raise ... from``): not found, exists (412), locked
(a refusal caused by retention), access denied, transient (throttling, 5xx, timeouts, connection
failures, a body whose checksum does not match), anything else a ``StoreError`` naming the key.
botocore makes one attempt per call (its own retries are off): ``RetryingStore`` is the one layer
that retries, so that it counts every request sent and sees a put whose reply was lost. Socket
timeouts are one attempt's share of the deadline (``drkit.deadline.Timeouts.attempt_seconds``).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import boto3
import botocore.exceptions
from botocore.config import Config

from drkit import deadline
from drkit.deadline import Timeouts
from drkit.errors import ConfigError
from drkit.storage.base import Leftover, LockMode, ObjectInfo, Retention
from drkit.storage.errors import (
    AccessDenied,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
    TransientStoreError,
)
from drkit.storage.options import S3Options, s3_url
from drkit.storage.partsreader import PartsReader
from drkit.storage.validate import check_key, check_prefix, check_retention, whole_second

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NotFound", "404"}
_TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "OperationAborted",
    "ConditionalRequestConflict",
    "XMinioServerNotInitialized",
    # The body the server received does not match the checksum sent with it: changed in transit.
    "XAmzContentChecksumMismatch",
    "BadDigest",
}
_TRANSIENT_STATUS = {500, 502, 503, 504}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_TRANSIENT_EXC = (
    botocore.exceptions.ConnectionError,  # refused, DNS, connect timeout, connection closed
    botocore.exceptions.HTTPClientError,  # read timeout, ...
    botocore.exceptions.ResponseStreamingError,  # the body broke off while reading
    botocore.exceptions.IncompleteReadError,
    # The body's checksum (x-amz-checksum-*) did not match: a byte flipped in transit; read again.
    botocore.exceptions.FlexibleChecksumError,
)
# Words of a refusal caused by a lock (MinIO: "Object is WORM protected ...", AWS: "... protected by
# object lock"). Not "retention" alone: "not authorized to perform s3:PutObjectRetention" is a credential.
_LOCK_WORDS = ("worm protected", "object lock", "locked")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class S3Store:
    """Objects under ``prefix`` in ``bucket``. See the module docstring; options in ``S3Options``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        options: S3Options | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.options = options or S3Options()
        self._clock = clock
        self.timeouts = timeouts or deadline.current()
        self._client: S3Client = _make_client(self.options, self.timeouts)
        self._object_lock: bool | None = None

    def __repr__(self) -> str:
        return f"S3Store({self.url})"

    @property
    def url(self) -> str:
        return s3_url(self.bucket, self.prefix, self.options)

    @property
    def endpoint(self) -> str:
        """The server's address, for messages: the configured endpoint, else AWS S3 in its region."""
        if self.options.endpoint:
            return f"S3 endpoint {self.options.endpoint}"
        return f"AWS S3 ({self._client.meta.region_name})"

    @property
    def client(self) -> S3Client:
        """The boto3 client (for tests and diagnostics)."""
        return self._client

    @property
    def supports_object_lock(self) -> bool:
        if self._object_lock is None:
            try:
                resp = self._client.get_object_lock_configuration(Bucket=self.bucket)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) == "ObjectLockConfigurationNotFoundError":
                    self._object_lock = False
                    return False
                self._raise(exc, self.bucket, "get_object_lock_configuration")
            except botocore.exceptions.BotoCoreError as exc:
                self._raise(exc, self.bucket, "get_object_lock_configuration")
            config = resp.get("ObjectLockConfiguration", {})
            self._object_lock = config.get("ObjectLockEnabled") == "Enabled"
        return self._object_lock

    def _raise(self, exc: Exception, key: str, op: str, version_id: str | None = None) -> NoReturn:
        """``_raise``; a refusal (AccessDenied) also says whose credentials were refused."""
        try:
            _raise(exc, key, op, version_id)
        except AccessDenied as denied:
            if denied.hint is None:
                denied.hint = (
                    f"the S3 credentials came from {self.credential_source()}; check that identity's "
                    "policy for this bucket and prefix (docs/security.md, 'IAM policies': a writer may not "
                    "delete, a restore identity may not write)"
                )
            raise

    def credential_source(self) -> str:
        """Where the client's credentials came from (never the credentials themselves)."""
        if self.options.access_key is not None:
            return "the access key given in the repository settings"
        signer = getattr(self._client, "_request_signer", None)
        method = getattr(getattr(signer, "_credentials", None), "method", None)
        described = _CREDENTIAL_METHODS.get(str(method), f"the AWS credential chain ({method})")
        if self.options.profile:
            described += f" (profile {self.options.profile})"
        return "no credentials at all" if method is None else described

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- writing -----------------------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, retention: Retention | None = None) -> str | None:
        return self._put(key, data, len(data), hashlib.sha256(data), retention)

    def put_parts(
        self, key: str, parts: Sequence[bytes | bytearray | memoryview], *, retention: Retention | None = None
    ) -> str | None:
        """:meth:`put` of the concatenation of ``parts`` (a pack's sealed blobs), sent from the parts
        (``PartsReader``): the object is never joined in memory, so an upload holds one copy of it."""
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        body = PartsReader(parts)
        return self._put(key, body, len(body), digest, retention)

    def _put(
        self,
        key: str,
        body: bytes | PartsReader,
        size: int,
        digest: hashlib._Hash,
        retention: Retention | None,
    ) -> str | None:
        full = self._key(key)
        check_retention(key, retention, self._clock())
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": full,
            "Body": body,
            "ContentLength": size,
            "IfNoneMatch": "*",
            "ChecksumSHA256": base64.b64encode(digest.digest()).decode(),
        }
        if retention is not None:
            kwargs["ObjectLockMode"] = _s3_mode(retention.mode)
            kwargs["ObjectLockRetainUntilDate"] = whole_second(retention.until)
        try:
            resp = self._client.put_object(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "PreconditionFailed" or _status(exc) == 412:
                raise ObjectExists(f"{key}: already exists", key=key) from exc
            self._raise(exc, key, "put")
        except botocore.exceptions.BotoCoreError as exc:
            self._raise(exc, key, "put")
        return _version(resp.get("VersionId"))

    def extend_retention(self, key: str, until: datetime, *, version_id: str | None = None) -> None:
        full = self._key(key)
        until = whole_second(until)
        if version_id is None:
            version_id = self.head(key).version_id  # pin the version read and written below
        current = self._retention(key, full, version_id)
        if current is not None and current.until >= until:
            return  # never shortened
        mode = current.mode if current is not None else self.options.default_mode
        vid: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            self._client.put_object_retention(
                Bucket=self.bucket,
                Key=full,
                Retention={"Mode": _s3_mode(mode), "RetainUntilDate": until},
                **vid,
            )
        except botocore.exceptions.ClientError as exc:
            if _says_locked(exc):
                raise ObjectLocked(f"{key}: retention not changed: {_describe(exc)}", key=key) from exc
            self._raise(exc, key, "extend_retention")
        except botocore.exceptions.BotoCoreError as exc:
            self._raise(exc, key, "extend_retention")

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        full = self._key(key)
        info = self.head(key, version_id=version_id)  # ObjectNotFound, and pins the newest version
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if info.version_id:
            kwargs["VersionId"] = info.version_id
        if self.options.bypass_governance:
            kwargs["BypassGovernanceRetention"] = True
        try:
            self._client.delete_object(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if self._refused_by_lock(exc, key, full, info):
                until = f" until {info.retention.until.isoformat()}" if info.retention else ""
                raise ObjectLocked(f"{key}: locked{until}: {_describe(exc)}", key=key) from exc
            self._raise(exc, key, "delete")
        except botocore.exceptions.BotoCoreError as exc:
            self._raise(exc, key, "delete")

    def _refused_by_lock(
        self, exc: botocore.exceptions.ClientError, key: str, full: str, info: ObjectInfo
    ) -> bool:
        """Was this refusal caused by retention, not by the credential?

        MinIO says so (400 InvalidRequest "Object is WORM protected ..."); SeaweedFS answers a plain
        403 AccessDenied for both reasons, so then the version's retention decides.
        """
        if _says_locked(exc):
            return True
        if _code(exc) not in _DENIED and _status(exc) != 403:
            return False
        try:
            retention = info.retention or self._retention(key, full, info.version_id)
        except StoreError:
            return False
        return retention is not None and retention.until > self._clock()

    # -- reading -----------------------------------------------------------------------------------

    def get(self, key: str, *, version_id: str | None = None) -> bytes:
        full = self._key(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            resp = self._client.get_object(**kwargs)
            return resp["Body"].read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self._raise(exc, key, "get", version_id)

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        full = self._key(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            resp = self._client.head_object(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self._raise(exc, key, "head", version_id)
        retention = None
        if "ObjectLockMode" in resp and "ObjectLockRetainUntilDate" in resp:
            retention = Retention(
                _lock_mode(resp["ObjectLockMode"]), resp["ObjectLockRetainUntilDate"].astimezone(UTC)
            )
        return ObjectInfo(
            key=key,
            size=resp["ContentLength"],
            version_id=_version(resp.get("VersionId")),
            retention=retention,
            last_modified=resp["LastModified"].astimezone(UTC),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def _retention(self, key: str, full: str, version_id: str | None) -> Retention | None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            resp = self._client.get_object_retention(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"):
                return None
            self._raise(exc, key, "get_object_retention", version_id)
        except botocore.exceptions.BotoCoreError as exc:
            self._raise(exc, key, "get_object_retention", version_id)
        ret = resp.get("Retention", {})
        if "Mode" not in ret or "RetainUntilDate" not in ret:
            return None
        return Retention(_lock_mode(ret["Mode"]), ret["RetainUntilDate"].astimezone(UTC))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", []):
                    yield ObjectInfo(
                        key=obj["Key"][len(base) :],
                        size=obj["Size"],
                        last_modified=obj["LastModified"].astimezone(UTC),
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self._raise(exc, prefix or "/", "list")

    def versions(self, key: str) -> builtins.list[ObjectInfo]:
        full = self._key(key)
        paginator = self._client.get_paginator("list_object_versions")
        found: builtins.list[ObjectInfo] = []
        try:
            # The delimiter folds keys below this one ("key/...") into one common prefix.
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for v in page.get("Versions", []):
                    if v["Key"] != full:
                        continue
                    found.append(
                        ObjectInfo(
                            key=key,
                            size=v["Size"],
                            version_id=_version(v.get("VersionId")),
                            is_latest=bool(v.get("IsLatest", False)),
                            last_modified=v["LastModified"].astimezone(UTC),
                        )
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self._raise(exc, key, "versions")
        if not found:
            raise ObjectNotFound(f"{key}: no such object", key=key)
        # Servers list a key's versions newest first; the stable sort keeps that order within a second.
        found.sort(key=lambda i: i.last_modified or datetime.min.replace(tzinfo=UTC), reverse=True)
        return found

    # -- leftovers: incomplete multipart uploads --------------------------------------------------

    def leftovers(self) -> builtins.list[Leftover]:
        """Multipart uploads under the prefix that were started and never completed or aborted (an
        interrupted upload by any tool: drkit's own puts are single requests). Their parts are
        stored and billed until aborted; no reader sees them."""
        base = f"{self.prefix}/" if self.prefix else ""
        found: builtins.list[Leftover] = []
        try:
            paginator = self._client.get_paginator("list_multipart_uploads")
            # The whole bucket, filtered here: MinIO lists an upload under a Prefix only when the
            # prefix is its whole key (2026-02 build), so a prefix would hide every one of them.
            for page in paginator.paginate(Bucket=self.bucket):
                for up in page.get("Uploads", []):
                    key, upload_id = up["Key"], up["UploadId"]
                    if not key.startswith(base):
                        continue
                    found.append(
                        Leftover(
                            name=key[len(base) :],
                            size=self._parts_size(key, upload_id),
                            started=up["Initiated"].astimezone(UTC),
                            upload_id=upload_id,
                        )
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self._raise(exc, base or "/", "list_multipart_uploads")
        return found

    def _parts_size(self, key: str, upload_id: str) -> int:
        total = 0
        paginator = self._client.get_paginator("list_parts")
        for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
            total += sum(int(p.get("Size", 0)) for p in page.get("Parts", []))
        return total

    def discard(self, leftover: Leftover) -> None:
        """Abort one incomplete multipart upload (its parts are deleted). Gone already: no error."""
        if leftover.upload_id is None:
            raise StoreError(f"{leftover.name}: not a multipart upload", key=leftover.name)
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(leftover.name), UploadId=leftover.upload_id
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "NoSuchUpload":
                return
            self._raise(exc, leftover.name, "abort_multipart_upload")
        except botocore.exceptions.BotoCoreError as exc:
            self._raise(exc, leftover.name, "abort_multipart_upload")


# -- configuration ---------------------------------------------------------------------------------


_CREDENTIAL_METHODS = {
    "env": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "assume-role": "an assumed role of the AWS config",
    "assume-role-with-web-identity": "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, e.g. IRSA)",
    "container-role": "the container credentials endpoint (ECS/EKS Pod Identity)",
    "iam-role": "the instance profile (IMDS)",
    "sso": "AWS SSO",
}


def _make_client(options: S3Options, timeouts: Timeouts) -> S3Client:
    try:
        session = boto3.session.Session(profile_name=options.profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(f"AWS profile {options.profile!r} not found", field="s3.profile") from exc
    region = options.region or session.region_name or "us-east-1"
    path_style = options.path_style if options.path_style is not None else bool(options.endpoint)
    config = Config(
        region_name=region,
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": 1},  # RetryingStore owns the attempts
        s3={"addressing_style": "path" if path_style else "virtual"},
        connect_timeout=min(10.0, timeouts.attempt_seconds),
        read_timeout=timeouts.attempt_seconds,
        # drkit sends its own SHA-256 on put; no aws-chunked trailers that some servers refuse.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_supported",
    )
    creds: dict[str, Any] = {}
    if options.access_key is not None and options.secret_key is not None:
        creds["aws_access_key_id"] = options.access_key
        creds["aws_secret_access_key"] = str(options.secret_key.reveal())
        if options.session_token is not None:
            creds["aws_session_token"] = str(options.session_token.reveal())
    verify: str | bool = str(options.ca_bundle) if options.ca_bundle else True
    return session.client("s3", endpoint_url=options.endpoint, config=config, verify=verify, **creds)


# -- errors ----------------------------------------------------------------------------------------


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _says_locked(exc: botocore.exceptions.ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return _code(exc) in (*_DENIED, "InvalidRequest") and any(word in message for word in _LOCK_WORDS)


def _describe(exc: botocore.exceptions.ClientError) -> str:
    err = exc.response.get("Error", {})
    return f"{err.get('Code', '?')} ({_status(exc)}): {err.get('Message', '')}".rstrip(": ")


def _raise(exc: Exception, key: str, op: str, version_id: str | None = None) -> NoReturn:
    """Raise the store error that ``exc`` means, naming the key and the operation."""
    what = f"{key} (version {version_id})" if version_id else key
    if isinstance(exc, botocore.exceptions.ClientError):
        code, status, detail = _code(exc), _status(exc), _describe(exc)
        if code == "NoSuchBucket":
            raise StoreError(
                f"{what}: {op} failed: {detail}", key=key, hint="create the bucket with Object Lock enabled"
            ) from exc
        if code in _NOT_FOUND or status == 404:
            raise ObjectNotFound(f"{what}: not found", key=key) from exc
        if version_id and ((code == "InvalidArgument" and "version" in detail.lower()) or code == "400"):
            # MinIO: a version id that is not a UUID (HEAD carries no body: bare 400)
            raise ObjectNotFound(f"{what}: not found ({detail})", key=key) from exc
        if _says_locked(exc):
            raise ObjectLocked(f"{what}: {op} refused: {detail}", key=key) from exc
        if code in _TRANSIENT or status in _TRANSIENT_STATUS:
            raise TransientStoreError(f"{what}: {op} failed: {detail}", key=key) from exc
        if code in _DENIED or status == 403:
            raise AccessDenied(f"{what}: {op} denied: {detail}", key=key) from exc
        raise StoreError(f"{what}: {op} failed: {detail}", key=key) from exc
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        raise AccessDenied(
            f"{what}: {op}: {exc}", key=key, hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
        ) from exc
    if isinstance(exc, botocore.exceptions.SSLError):  # a ConnectionError, but retrying will not help
        raise StoreError(
            f"{what}: {op} failed: TLS: {exc}", key=key, hint="check the endpoint's certificate and ca_bundle"
        ) from exc
    if isinstance(exc, _TRANSIENT_EXC):
        raise TransientStoreError(f"{what}: {op} failed: {exc}", key=key) from exc
    raise StoreError(f"{what}: {op} failed: {exc}", key=key) from exc


def _s3_mode(mode: LockMode) -> Any:
    return "COMPLIANCE" if mode is LockMode.COMPLIANCE else "GOVERNANCE"


def _lock_mode(value: str) -> LockMode:
    return LockMode(value.lower())


def _version(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value
