"""docs/iam/*.json, the IAM policies docs/security.md tells operators to use, enforced by a real MinIO.

Each policy file is applied as it is written (only its example bucket name replaced by the test's
bucket) through the mechanism the S3 sandbox uses for its writer: STS AssumeRole by the root user with
the document as session policy, which MinIO evaluates on every request (drkit/sandbox/minio.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from botocore.exceptions import ClientError

from drkit.errors import SandboxError
from drkit.sandbox.minio import assume_role
from drkit.sandbox.s3server import S3Credentials, S3Server
from tests.infra.plugin import ROOT
from tests.infra.s3 import boto3_client

IAM = ROOT / "docs" / "iam"
EXAMPLE_BUCKET: Final = "drkit-backups"
COMPLIANCE: Final = "COMPLIANCE"
GOVERNANCE: Final = "GOVERNANCE"
LOCKED: Final = "InvalidRequest"  # MinIO's code when Object Lock (not a policy) refuses
DENIED: Final = "AccessDenied"
MINIO_GOVERNANCE_FLAW = (
    "MinIO lets s3:PutObjectRetention alone shorten GOVERNANCE retention with the bypass header "
    "(tests/integration/test_s3_object_lock.py; docs/security.md)"
)

# These tests prove MinIO's enforcement of the documents: on MinIO only (the session's server).
on_minio = pytest.mark.parametrize("s3_server", ["minio"], indirect=True)


def policy(name: str, bucket: str) -> dict[str, Any]:
    text = (IAM / name).read_text()
    assert EXAMPLE_BUCKET in text
    doc: dict[str, Any] = json.loads(text.replace(EXAMPLE_BUCKET, bucket))
    return doc


def credentials(s3: S3Server, name: str) -> S3Credentials:
    return assume_role(s3.endpoint, s3.admin, policy(name, s3.bucket), 3600)


def _in(minutes: int) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).replace(microsecond=0)


def refused(code: str, call: Any, /, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]


def put_locked(client: Any, bucket: str, key: str, body: bytes, *, mode: str, until: dt.datetime) -> str:
    reply = client.put_object(
        Bucket=bucket, Key=key, Body=body, ObjectLockMode=mode, ObjectLockRetainUntilDate=until
    )
    version: str = reply["VersionId"]
    return version


def retention(client: Any, bucket: str, key: str, version: str) -> tuple[str, dt.datetime]:
    r = client.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    return r["Mode"], r["RetainUntilDate"].astimezone(dt.UTC)


def test_documents_say_what_security_md_promises() -> None:
    for name in ("writer-policy.json", "pruner-policy.json"):
        doc = json.loads((IAM / name).read_text())
        assert doc["Version"] == "2012-10-17"
        allowed = {a for s in doc["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
        denied = {a for s in doc["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}
        assert not any("*" in a for a in allowed | denied), "no wildcards"
        for action in ("s3:BypassGovernanceRetention", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"):
            assert action in denied
            assert action not in allowed
        assert "s3:PutBucketVersioning" in denied
    writer = json.loads((IAM / "writer-policy.json").read_text())
    writer_allowed = {a for s in writer["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    assert not {"s3:DeleteObject", "s3:DeleteObjectVersion"} & writer_allowed
    security = (ROOT / "docs" / "security.md").read_text()
    assert "docs/iam/writer-policy.json" in security
    assert "docs/iam/pruner-policy.json" in security


# --- the writer -----------------------------------------------------------------------------------


@on_minio
def test_writer_puts_with_lock_extends_reads_and_lists(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    until = _in(60)
    version = put_locked(writer, s3.bucket, "data/ab/pack", b"pack", mode=COMPLIANCE, until=until)
    governed = put_locked(writer, s3.bucket, "index/i", b"index", mode=GOVERNANCE, until=until)

    later = _in(120)
    writer.put_object_retention(
        Bucket=s3.bucket,
        Key="data/ab/pack",
        VersionId=version,
        Retention={"Mode": COMPLIANCE, "RetainUntilDate": later},
    )
    assert retention(writer, s3.bucket, "data/ab/pack", version) == (COMPLIANCE, later)
    writer.put_object_retention(
        Bucket=s3.bucket,
        Key="index/i",
        VersionId=governed,
        Retention={"Mode": GOVERNANCE, "RetainUntilDate": later},
    )
    assert retention(writer, s3.bucket, "index/i", governed) == (GOVERNANCE, later)

    assert (
        writer.get_object(Bucket=s3.bucket, Key="data/ab/pack", VersionId=version)["Body"].read() == b"pack"
    )
    assert writer.head_object(Bucket=s3.bucket, Key="index/i")["ContentLength"] == 5
    keys = {o["Key"] for o in writer.list_objects_v2(Bucket=s3.bucket)["Contents"]}
    assert keys == {"data/ab/pack", "index/i"}
    versions = writer.list_object_versions(Bucket=s3.bucket)["Versions"]
    assert {v["VersionId"] for v in versions} == {version, governed}
    assert writer.get_object_lock_configuration(Bucket=s3.bucket)["ObjectLockConfiguration"][
        "ObjectLockEnabled"
    ]


@on_minio
def test_writer_cannot_delete_even_an_unlocked_object(s3: S3Server) -> None:
    """The policy, not a lock, refuses: this version has no retention at all."""
    writer, admin = boto3_client(s3, credentials(s3, "writer-policy.json")), boto3_client(s3, s3.admin)
    version = writer.put_object(Bucket=s3.bucket, Key="snapshots/s", Body=b"manifest")["VersionId"]

    refused(DENIED, writer.delete_object, Bucket=s3.bucket, Key="snapshots/s", VersionId=version)
    refused(DENIED, writer.delete_object, Bucket=s3.bucket, Key="snapshots/s")  # not even a delete marker
    batch = writer.delete_objects(
        Bucket=s3.bucket, Delete={"Objects": [{"Key": "snapshots/s", "VersionId": version}]}
    )
    assert [e["Code"] for e in batch.get("Errors", [])] == [DENIED]
    assert not batch.get("Deleted")
    assert (
        admin.get_object(Bucket=s3.bucket, Key="snapshots/s", VersionId=version)["Body"].read() == b"manifest"
    )
    # The control: the same delete is possible for an identity that holds the right.
    admin.delete_object(Bucket=s3.bucket, Key="snapshots/s", VersionId=version)


@on_minio
def test_writer_cannot_bypass_governance_to_delete(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    version = put_locked(writer, s3.bucket, "index/i", b"index", mode=GOVERNANCE, until=_in(60))
    refused(
        DENIED,
        writer.delete_object,
        Bucket=s3.bucket,
        Key="index/i",
        VersionId=version,
        BypassGovernanceRetention=True,
    )


@on_minio
def test_writer_cannot_shorten_compliance_retention_even_with_the_bypass_header(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    until = _in(60)
    version = put_locked(writer, s3.bucket, "data/cd/pack", b"pack", mode=COMPLIANCE, until=until)
    for bypass in (False, True):
        refused(
            LOCKED,
            writer.put_object_retention,
            Bucket=s3.bucket,
            Key="data/cd/pack",
            VersionId=version,
            BypassGovernanceRetention=bypass,
            Retention={"Mode": COMPLIANCE, "RetainUntilDate": _in(5)},
        )
    assert retention(writer, s3.bucket, "data/cd/pack", version) == (COMPLIANCE, until)


@on_minio
@pytest.mark.xfail(strict=True, reason=MINIO_GOVERNANCE_FLAW)
def test_writer_cannot_bypass_governance_to_shorten_retention(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    until = _in(60)
    version = put_locked(writer, s3.bucket, "index/j", b"index", mode=GOVERNANCE, until=until)
    refused(
        DENIED,
        writer.put_object_retention,
        Bucket=s3.bucket,
        Key="index/j",
        VersionId=version,
        BypassGovernanceRetention=True,
        Retention={"Mode": GOVERNANCE, "RetainUntilDate": _in(5)},
    )


@on_minio
def test_writer_cannot_change_lifecycle_policy_versioning_or_lock(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    b = s3.bucket
    expire = {
        "Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]
    }
    refused(DENIED, writer.put_bucket_lifecycle_configuration, Bucket=b, LifecycleConfiguration=expire)
    open_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{b}/*"}
        ],
    }
    refused(DENIED, writer.put_bucket_policy, Bucket=b, Policy=json.dumps(open_policy))
    refused(DENIED, writer.delete_bucket_policy, Bucket=b)
    refused(DENIED, writer.put_bucket_versioning, Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    default_gov = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": GOVERNANCE, "Days": 1}},
    }
    refused(DENIED, writer.put_object_lock_configuration, Bucket=b, ObjectLockConfiguration=default_gov)
    refused(DENIED, writer.delete_bucket, Bucket=b)
    refused(DENIED, writer.create_bucket, Bucket=f"{b}-2")
    version = writer.put_object(Bucket=b, Key="held", Body=b"held")["VersionId"]
    refused(
        DENIED,
        writer.put_object_legal_hold,
        Bucket=b,
        Key="held",
        VersionId=version,
        LegalHold={"Status": "ON"},
    )


@on_minio
def test_writer_is_confined_to_its_bucket(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    other = f"{s3.bucket}-other"
    s3.create_bucket(other, object_lock=True)
    refused(DENIED, writer.put_object, Bucket=other, Key="x", Body=b"x")
    refused(DENIED, writer.list_objects_v2, Bucket=other)


# --- the pruner -----------------------------------------------------------------------------------


@on_minio
def test_pruner_deletes_only_what_no_lock_holds(s3: S3Server) -> None:
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    pruner = boto3_client(s3, credentials(s3, "pruner-policy.json"))
    free = writer.put_object(Bucket=s3.bucket, Key="data/ef/expired", Body=b"old")["VersionId"]
    held = put_locked(writer, s3.bucket, "data/ef/held", b"kept", mode=COMPLIANCE, until=_in(60))
    governed = put_locked(writer, s3.bucket, "index/g", b"kept", mode=GOVERNANCE, until=_in(60))

    pruner.delete_object(Bucket=s3.bucket, Key="data/ef/expired", VersionId=free)
    refused("NoSuchVersion", pruner.get_object, Bucket=s3.bucket, Key="data/ef/expired", VersionId=free)
    refused(LOCKED, pruner.delete_object, Bucket=s3.bucket, Key="data/ef/held", VersionId=held)
    refused(
        DENIED,
        pruner.delete_object,
        Bucket=s3.bucket,
        Key="index/g",
        VersionId=governed,
        BypassGovernanceRetention=True,
    )
    refused(LOCKED, pruner.delete_object, Bucket=s3.bucket, Key="index/g", VersionId=governed)
    versions = {v["VersionId"] for v in pruner.list_object_versions(Bucket=s3.bucket)["Versions"]}
    assert versions == {held, governed}


@on_minio
def test_pruner_writes_nothing_but_audit_records(s3: S3Server) -> None:
    pruner = boto3_client(s3, credentials(s3, "pruner-policy.json"))
    b = s3.bucket
    refused(DENIED, pruner.put_object, Bucket=b, Key="data/00/pack", Body=b"x")
    refused(DENIED, pruner.put_object, Bucket=b, Key="snapshots/s", Body=b"x")
    record = put_locked(
        pruner, b, "audit/20260101T000000Z-00", b"sealed record", mode=COMPLIANCE, until=_in(60)
    )
    assert retention(pruner, b, "audit/20260101T000000Z-00", record)[0] == COMPLIANCE
    expire = {
        "Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]
    }
    refused(DENIED, pruner.put_bucket_lifecycle_configuration, Bucket=b, LifecycleConfiguration=expire)
    refused(DENIED, pruner.put_bucket_versioning, Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    refused(DENIED, pruner.delete_bucket_policy, Bucket=b)


def test_policy_files_are_the_ones_documented() -> None:
    """The sandbox's own writer and the documented writer agree on what is denied."""
    from drkit.sandbox.s3server import WRITER_DENY

    doc = json.loads((IAM / "writer-policy.json").read_text())
    denied = {a for s in doc["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}
    assert set(WRITER_DENY) == denied


# --- drkit itself under the two policies ----------------------------------------------------------


@on_minio
def test_drkit_backs_up_as_writer_and_prunes_only_as_pruner(s3: S3Server, tmp_path: Path) -> None:
    """The documents are enough for drkit: init/backup/audit as the writer, prune as the pruner (which
    also stores its audit record under audit/); the writer's prune deletes nothing."""
    src = tmp_path / "src"
    src.mkdir()
    url = f"s3://{s3.bucket}?endpoint={s3.endpoint}&region={s3.region}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRKIT_"))}

    def drkit(creds: S3Credentials, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **base_env,
            "DRKIT_REPO": url,
            "DRKIT_PASSWORD": "passphrase of the policy test",
            "DRKIT_SCRYPT_N": "1024",
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": str(creds.secret_key.reveal()),
            "AWS_SESSION_TOKEN": str(creds.session_token.reveal()) if creds.session_token else "",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )

    writer, pruner = credentials(s3, "writer-policy.json"), credentials(s3, "pruner-policy.json")
    # No lock, so that prune has something it may delete: the policy, not a lock, decides.
    assert drkit(writer, "repo", "init", "--lock-mode", "none").returncode == 0
    for content in ("first", "second"):
        (src / "file").write_text(content)
        done = drkit(writer, "backup", "path", str(src))
        assert done.returncode == 0, done.stderr

    # The writer's prune deletes nothing: the store answers AccessDenied, which drkit's prune reports
    # as denied (not as a lock that frees later) and exits 1 (partial) with the pruner hint.
    refused_prune = drkit(writer, "prune", "--keep-last", "1", "-o", "json")
    assert refused_prune.returncode == 1, refused_prune.stderr
    assert "pruner credential" in refused_prune.stderr
    refused = json.loads(refused_prune.stdout)
    assert refused["deleted_snapshots"] == []
    assert refused["locked"] == []
    assert len(refused["denied"]) == 1
    assert len(json.loads(drkit(writer, "snapshots", "-o", "json").stdout)) == 2

    pruned = drkit(pruner, "prune", "--keep-last", "1", "-o", "json")
    assert pruned.returncode == 0, pruned.stderr
    assert len(json.loads(pruned.stdout)["deleted_snapshots"]) == 1
    assert len(json.loads(drkit(pruner, "snapshots", "-o", "json").stdout)) == 1

    log = json.loads(drkit(pruner, "audit", "-o", "json").stdout)
    assert log["problems"] == []
    assert [(r["command"], r["result"]) for r in log["records"]] == [
        ("backup path", "ok"),
        ("backup path", "ok"),
        ("prune", "partial"),  # the writer's, which deleted nothing
        ("prune", "ok"),
    ]


# --- retention extension as a cost attack (issue 19.9) ------------------------------------------------


def _with_retention_cap(bucket: str) -> dict[str, Any]:
    """The writer policy plus docs/iam/writer-retention-cap.json (a Deny above 400 days)."""
    doc = policy("writer-policy.json", bucket)
    doc["Statement"] += policy("writer-retention-cap.json", bucket)["Statement"]
    return doc


@on_minio
def test_a_writer_can_extend_compliance_retention_to_2099_without_the_cap(s3: S3Server) -> None:
    """The attack: PutObjectRetention lets any writer lock an object for decades (nothing can free it)."""
    writer = boto3_client(s3, credentials(s3, "writer-policy.json"))
    version = put_locked(writer, s3.bucket, "data/ee/pack", b"pack", mode=COMPLIANCE, until=_in(60))
    far = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    writer.put_object_retention(
        Bucket=s3.bucket,
        Key="data/ee/pack",
        VersionId=version,
        Retention={"Mode": COMPLIANCE, "RetainUntilDate": far},
    )
    assert retention(writer, s3.bucket, "data/ee/pack", version) == (COMPLIANCE, far)


@on_minio
def test_the_retention_cap_refuses_extensions_beyond_it(s3: S3Server) -> None:
    """The mitigation docs/security.md gives, enforced by MinIO: s3:object-lock-remaining-retention-days."""
    writer = boto3_client(s3, assume_role(s3.endpoint, s3.admin, _with_retention_cap(s3.bucket), 3600))
    version = put_locked(writer, s3.bucket, "data/ff/pack", b"pack", mode=COMPLIANCE, until=_in(60))
    within = _in(300 * 24 * 60)  # 300 days: what drkit's own extensions need, allowed
    writer.put_object_retention(
        Bucket=s3.bucket,
        Key="data/ff/pack",
        VersionId=version,
        Retention={"Mode": COMPLIANCE, "RetainUntilDate": within},
    )
    assert retention(writer, s3.bucket, "data/ff/pack", version) == (COMPLIANCE, within)
    for beyond in (_in(500 * 24 * 60), dt.datetime(2099, 1, 1, tzinfo=dt.UTC)):
        refused(
            DENIED,
            writer.put_object_retention,
            Bucket=s3.bucket,
            Key="data/ff/pack",
            VersionId=version,
            Retention={"Mode": COMPLIANCE, "RetainUntilDate": beyond},
        )
    assert retention(writer, s3.bucket, "data/ff/pack", version) == (COMPLIANCE, within)


@on_minio
def test_minio_takes_the_cap_on_put_object_retention_only(s3: S3Server) -> None:
    """On AWS the condition key also applies to s3:PutObject (a new object locked for decades); the
    pinned MinIO refuses a policy that uses it there, so on MinIO a writer can still put new objects
    with a far retain-until: docs/security.md says so, and verify warns about such objects."""
    doc = _with_retention_cap(s3.bucket)
    doc["Statement"][-1]["Action"] = ["s3:PutObject", "s3:PutObjectRetention"]
    with pytest.raises(SandboxError, match="unsupported condition keys"):
        assume_role(s3.endpoint, s3.admin, doc, 3600)
    writer = boto3_client(s3, assume_role(s3.endpoint, s3.admin, _with_retention_cap(s3.bucket), 3600))
    far = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    version = put_locked(writer, s3.bucket, "data/gg/pack", b"x", mode=COMPLIANCE, until=far)
    assert retention(writer, s3.bucket, "data/gg/pack", version) == (COMPLIANCE, far)
