"""Incomplete multipart uploads on real servers (issue 19.6): listed under the store's prefix with
the size of their parts, aborted by prune once older than its grace, never touching objects."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from drkit.repo.engine.prune import GRACE, prune_leftovers
from drkit.sandbox.s3server import S3Server
from drkit.storage.base import Housekeeping
from drkit.storage.options import S3Options
from drkit.storage.retry import RetryingStore
from drkit.storage.s3 import S3Store
from tests.infra.s3 import boto3_client

PART = b"p" * (5 << 20)  # the smallest part S3 accepts that is not the last


def _start_upload(s3: S3Server, key: str) -> str:
    client = boto3_client(s3, s3.admin)
    up = client.create_multipart_upload(Bucket=s3.bucket, Key=key, ChecksumAlgorithm="SHA256")
    client.upload_part(
        Bucket=s3.bucket,
        Key=key,
        UploadId=up["UploadId"],
        PartNumber=1,
        Body=PART,
        ChecksumSHA256=base64.b64encode(hashlib.sha256(PART).digest()).decode(),
    )
    return up["UploadId"]


def test_incomplete_uploads_are_listed_and_old_ones_aborted_by_prune(s3: S3Server) -> None:
    options = S3Options(
        endpoint=s3.endpoint, region=s3.region, access_key=s3.admin.access_key, secret_key=s3.admin.secret_key
    )
    store = RetryingStore(S3Store(s3.bucket, "repo", options))
    assert isinstance(store, Housekeeping)
    store.put("data/ab/kept", b"an object")
    upload_id = _start_upload(s3, "repo/data/cd/interrupted")
    _start_upload(s3, "elsewhere/not-ours")  # outside the store's prefix
    found = store.leftovers()
    assert [(f.name, f.upload_id, f.size) for f in found] == [("data/cd/interrupted", upload_id, len(PART))]
    assert abs(found[0].started - datetime.now(UTC)) < timedelta(minutes=5)

    now = datetime.now(UTC)
    done, young, _notes = prune_leftovers(store, now=now, grace=GRACE, dry_run=False)
    assert (done, [y.name for y in young]) == ((), ["data/cd/interrupted"])  # young: a backup may own it
    done, young, notes = prune_leftovers(store, now=now + 2 * GRACE, grace=GRACE, dry_run=False)
    assert [d.name for d in done] == ["data/cd/interrupted"]
    assert (young, notes) == ((), ())
    assert store.leftovers() == []
    store.discard(found[0])  # aborted already: fine
    assert store.get("data/ab/kept") == b"an object"
    uploads = boto3_client(s3, s3.admin).list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["elsewhere/not-ours"]
