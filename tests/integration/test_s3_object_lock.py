"""What drkit relies on from S3 Object Lock, proven on real servers (MinIO and SeaweedFS).

The writer credential is the one a backup job holds; the admin is the bucket owner. A locked version
must survive both: a compromised writer, and an admin within COMPLIANCE retention.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final, Literal

import pytest
from botocore.exceptions import ClientError

from drkit.sandbox.s3server import S3Server
from tests.infra.s3 import boto3_client, locked_error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

Mode = Literal["COMPLIANCE", "GOVERNANCE"]
COMPLIANCE: Final = "COMPLIANCE"
GOVERNANCE: Final = "GOVERNANCE"

# Found on the pinned MinIO (cmd/bucket-object-lock.go, enforceRetentionBypassForPut): with the header
# x-amz-bypass-governance-retention, PutObjectRetention on a GOVERNANCE version is allowed to anyone
# holding s3:PutObjectRetention, even under an explicit Deny of s3:BypassGovernanceRetention. The
# writer still cannot delete (no s3:DeleteObjectVersion), and COMPLIANCE is not affected.
MINIO_GOVERNANCE_FLAW = (
    "MinIO lets s3:PutObjectRetention alone shorten GOVERNANCE retention with the bypass header"
)


def _in(minutes: int) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).replace(microsecond=0)


def _refused(code: str, call: Any, /, **kwargs: Any) -> None:
    """``call(**kwargs)`` fails with S3 error ``code``."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]


def _put_locked(
    client: S3Client, bucket: str, key: str, body: bytes, *, mode: Mode, until: dt.datetime
) -> str:
    reply = client.put_object(
        Bucket=bucket, Key=key, Body=body, ObjectLockMode=mode, ObjectLockRetainUntilDate=until
    )
    assert reply.get("VersionId"), "an Object Lock bucket returns a version id"
    return reply["VersionId"]


def _retention(client: S3Client, bucket: str, key: str, version: str) -> tuple[str, dt.datetime]:
    r = client.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    return r["Mode"], r["RetainUntilDate"].astimezone(dt.UTC)


def _body(client: S3Client, bucket: str, key: str, version: str | None = None) -> bytes:
    if version is None:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()


def test_fixture_bucket_has_object_lock_and_versioning(s3: S3Server) -> None:
    admin = boto3_client(s3, s3.admin)
    lock = admin.get_object_lock_configuration(Bucket=s3.bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert admin.get_bucket_versioning(Bucket=s3.bucket)["Status"] == "Enabled"


def test_writer_puts_with_compliance_retention(s3: S3Server) -> None:
    writer = boto3_client(s3, s3.writer)
    until = _in(60)
    version = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=until)

    head = writer.head_object(Bucket=s3.bucket, Key="packs/a", VersionId=version)
    assert head["ObjectLockMode"] == COMPLIANCE
    assert head["ObjectLockRetainUntilDate"].astimezone(dt.UTC) == until
    assert _retention(writer, s3.bucket, "packs/a", version) == (COMPLIANCE, until)
    assert _body(writer, s3.bucket, "packs/a", version) == b"pack a"


def test_writer_cannot_delete_anything(s3: S3Server) -> None:
    writer = boto3_client(s3, s3.writer)
    locked = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=_in(60))
    unlocked = writer.put_object(Bucket=s3.bucket, Key="scratch", Body=b"no lock")["VersionId"]

    _refused("AccessDenied", writer.delete_object, Bucket=s3.bucket, Key="packs/a", VersionId=locked)
    # Refused by the credential itself, not only by the lock:
    _refused("AccessDenied", writer.delete_object, Bucket=s3.bucket, Key="scratch", VersionId=unlocked)
    _refused("AccessDenied", writer.delete_object, Bucket=s3.bucket, Key="scratch")  # no delete marker
    assert _body(writer, s3.bucket, "packs/a", locked) == b"pack a"
    assert _body(writer, s3.bucket, "scratch") == b"no lock"


def test_admin_cannot_delete_a_compliance_locked_version(s3: S3Server) -> None:
    writer, admin = boto3_client(s3, s3.writer), boto3_client(s3, s3.admin)
    version = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=_in(60))

    _refused(locked_error_code(s3), admin.delete_object, Bucket=s3.bucket, Key="packs/a", VersionId=version)
    _refused(
        locked_error_code(s3),
        admin.delete_object,
        Bucket=s3.bucket,
        Key="packs/a",
        VersionId=version,
        BypassGovernanceRetention=True,
    )
    assert _body(admin, s3.bucket, "packs/a", version) == b"pack a"


def test_compliance_retention_cannot_be_shortened_even_by_admin(s3: S3Server) -> None:
    writer, admin = boto3_client(s3, s3.writer), boto3_client(s3, s3.admin)
    until = _in(60)
    version = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=until)

    for client in (writer, admin):
        _refused(
            locked_error_code(s3),
            client.put_object_retention,
            Bucket=s3.bucket,
            Key="packs/a",
            VersionId=version,
            Retention={"Mode": COMPLIANCE, "RetainUntilDate": _in(30)},
        )
    _refused(
        locked_error_code(s3),
        admin.put_object_retention,
        Bucket=s3.bucket,
        Key="packs/a",
        VersionId=version,
        BypassGovernanceRetention=True,
        Retention={"Mode": GOVERNANCE, "RetainUntilDate": until},
    )
    assert _retention(admin, s3.bucket, "packs/a", version) == (COMPLIANCE, until)


def test_writer_extends_compliance_retention(s3: S3Server) -> None:
    writer = boto3_client(s3, s3.writer)
    version = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=_in(60))
    later = _in(24 * 60)

    writer.put_object_retention(
        Bucket=s3.bucket,
        Key="packs/a",
        VersionId=version,
        Retention={"Mode": COMPLIANCE, "RetainUntilDate": later},
    )
    assert _retention(writer, s3.bucket, "packs/a", version) == (COMPLIANCE, later)


def test_writer_cannot_bypass_governance_to_delete(s3: S3Server) -> None:
    writer, admin = boto3_client(s3, s3.writer), boto3_client(s3, s3.admin)
    version = _put_locked(writer, s3.bucket, "index/1", b"index", mode=GOVERNANCE, until=_in(60))

    _refused(
        "AccessDenied",
        writer.delete_object,
        Bucket=s3.bucket,
        Key="index/1",
        VersionId=version,
        BypassGovernanceRetention=True,
    )
    # Without bypass the admin is held by GOVERNANCE too; with it, the admin may remove the version.
    _refused(locked_error_code(s3), admin.delete_object, Bucket=s3.bucket, Key="index/1", VersionId=version)
    deleted = admin.delete_object(
        Bucket=s3.bucket, Key="index/1", VersionId=version, BypassGovernanceRetention=True
    )
    assert deleted.get("VersionId") == version
    _refused("NoSuchVersion", admin.get_object, Bucket=s3.bucket, Key="index/1", VersionId=version)


def test_writer_cannot_bypass_governance_to_shorten_retention(
    s3: S3Server, request: pytest.FixtureRequest
) -> None:
    if s3.kind == "minio":
        request.applymarker(pytest.mark.xfail(strict=True, reason=MINIO_GOVERNANCE_FLAW))
    writer = boto3_client(s3, s3.writer)
    until = _in(60)
    version = _put_locked(writer, s3.bucket, "index/1", b"index", mode=GOVERNANCE, until=until)

    _refused(
        locked_error_code(s3),
        writer.put_object_retention,
        Bucket=s3.bucket,
        Key="index/1",
        VersionId=version,
        Retention={"Mode": GOVERNANCE, "RetainUntilDate": _in(5)},
    )
    _refused(
        "AccessDenied",
        writer.put_object_retention,
        Bucket=s3.bucket,
        Key="index/1",
        VersionId=version,
        BypassGovernanceRetention=True,
        Retention={"Mode": GOVERNANCE, "RetainUntilDate": _in(5)},
    )
    assert _retention(writer, s3.bucket, "index/1", version) == (GOVERNANCE, until)


def test_overwrite_makes_a_new_version_and_the_locked_one_stays_readable(s3: S3Server) -> None:
    writer = boto3_client(s3, s3.writer)
    locked = _put_locked(writer, s3.bucket, "manifest", b"original", mode=COMPLIANCE, until=_in(60))
    replaced = writer.put_object(Bucket=s3.bucket, Key="manifest", Body=b"attacker")["VersionId"]

    assert replaced != locked
    assert _body(writer, s3.bucket, "manifest") == b"attacker"
    assert _body(writer, s3.bucket, "manifest", locked) == b"original"
    listed = writer.list_object_versions(Bucket=s3.bucket, Prefix="manifest")["Versions"]
    assert {v["VersionId"] for v in listed} == {locked, replaced}


def test_writer_cannot_change_the_bucket(s3: S3Server) -> None:
    writer = boto3_client(s3, s3.writer)
    _refused(
        "AccessDenied",
        writer.put_bucket_versioning,
        Bucket=s3.bucket,
        VersioningConfiguration={"Status": "Suspended"},
    )
    _refused(
        "AccessDenied",
        writer.put_object_lock_configuration,
        Bucket=s3.bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"},
    )
    _refused("AccessDenied", writer.delete_bucket, Bucket=s3.bucket)
    _refused("AccessDenied", writer.create_bucket, Bucket=f"{s3.bucket}-by-writer")
    # Nor legal holds: a writer that could set one could also lift one.
    version = writer.put_object(Bucket=s3.bucket, Key="held", Body=b"held")["VersionId"]
    _refused(
        "AccessDenied",
        writer.put_object_legal_hold,
        Bucket=s3.bucket,
        Key="held",
        VersionId=version,
        LegalHold={"Status": "ON"},
    )


def test_admin_cannot_delete_a_bucket_holding_locked_versions(s3: S3Server) -> None:
    writer, admin = boto3_client(s3, s3.writer), boto3_client(s3, s3.admin)
    version = _put_locked(writer, s3.bucket, "packs/a", b"pack a", mode=COMPLIANCE, until=_in(60))

    _refused("BucketNotEmpty", admin.delete_bucket, Bucket=s3.bucket)
    assert _body(admin, s3.bucket, "packs/a", version) == b"pack a"


def test_multipart_upload_is_locked_too(s3: S3Server) -> None:
    writer, admin = boto3_client(s3, s3.writer), boto3_client(s3, s3.admin)
    until = _in(60)
    upload = writer.create_multipart_upload(
        Bucket=s3.bucket, Key="packs/big", ObjectLockMode=COMPLIANCE, ObjectLockRetainUntilDate=until
    )["UploadId"]
    first, last = b"a" * (5 * 1024 * 1024), b"b" * 1024
    parts: list[CompletedPartTypeDef] = []
    for number, data in ((1, first), (2, last)):
        etag = writer.upload_part(
            Bucket=s3.bucket, Key="packs/big", UploadId=upload, PartNumber=number, Body=data
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    done = writer.complete_multipart_upload(
        Bucket=s3.bucket, Key="packs/big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    version = done["VersionId"]

    assert _retention(writer, s3.bucket, "packs/big", version) == (COMPLIANCE, until)
    _refused(locked_error_code(s3), admin.delete_object, Bucket=s3.bucket, Key="packs/big", VersionId=version)
    assert _body(writer, s3.bucket, "packs/big", version) == first + last


def test_the_sandbox_writer_has_exactly_the_documented_rights(s3: S3Server) -> None:
    """docs/iam/writer-policy.json grants no tagging: the sandbox's writer is refused it (issue 19.10)."""
    writer = boto3_client(s3, s3.writer)
    version = writer.put_object(Bucket=s3.bucket, Key="tagged", Body=b"x")["VersionId"]
    tags = {"TagSet": [{"Key": "k", "Value": "v"}]}
    _refused("AccessDenied", writer.put_object_tagging, Bucket=s3.bucket, Key="tagged", Tagging=tags)
    _refused(
        "AccessDenied",
        writer.put_object_tagging,
        Bucket=s3.bucket,
        Key="tagged",
        VersionId=version,
        Tagging=tags,
    )
    _refused("AccessDenied", writer.delete_object_tagging, Bucket=s3.bucket, Key="tagged")
