"""S3Store.put sends Object Lock, write-once and checksum headers: checked on the request botocore
would send (a ``before-send`` hook answers it; nothing leaves the process), and on the call's
parameters with botocore's Stubber. The integration tier checks that real servers enforce them."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from drkit.secret import Secret
from drkit.storage.base import LockMode, Retention
from drkit.storage.errors import AccessDenied, ObjectExists, StoreError, TransientStoreError
from drkit.storage.options import S3Options
from drkit.storage.s3 import S3Store

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
UNTIL = datetime(2026, 12, 9, 12, 0, 0, 250_000, tzinfo=UTC)  # sent rounded up to the second
DATA = b"a pack's bytes"


class _Recorded:
    def __init__(self) -> None:
        self.requests: list[AWSPreparedRequest] = []

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.requests.append(request)
        return AWSResponse(request.url, 200, {"x-amz-version-id": "v-123", "ETag": '"e"'}, _Raw())


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


@pytest.fixture
def store() -> S3Store:
    options = S3Options(
        endpoint="http://127.0.0.1:1", access_key="test", secret_key=Secret("test-secret-key")
    )
    return S3Store("bucket", "repo", options, clock=lambda: NOW)


def _send(store: S3Store, retention: Retention | None) -> tuple[str | None, AWSPreparedRequest]:
    recorded = _Recorded()
    store.client.meta.events.register("before-send.s3.PutObject", recorded)
    version = store.put("data/ab/abcd", DATA, retention=retention)
    assert len(recorded.requests) == 1
    return version, recorded.requests[0]


@pytest.mark.parametrize("mode", [LockMode.COMPLIANCE, LockMode.GOVERNANCE])
def test_put_sends_object_lock_headers(store: S3Store, mode: LockMode) -> None:
    version, request = _send(store, Retention(mode, UNTIL))
    assert version == "v-123"
    assert request.method == "PUT"
    assert request.url.endswith("/bucket/repo/data/ab/abcd")
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    assert headers["x-amz-object-lock-mode"] == mode.value.upper()
    assert headers["x-amz-object-lock-retain-until-date"] == "2026-12-09T12:00:01Z"
    assert headers["if-none-match"] == "*"
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(DATA).digest()).decode()


def test_put_without_retention_sends_no_lock_headers(store: S3Store) -> None:
    _version, request = _send(store, None)
    headers = {k.lower() for k in request.headers}
    assert "x-amz-object-lock-mode" not in headers
    assert "x-amz-object-lock-retain-until-date" not in headers
    assert "if-none-match" in headers


def test_put_parameters_with_stubber(store: S3Store) -> None:
    until = NOW + timedelta(days=30)
    with Stubber(store.client) as stub:
        stub.add_response(
            "put_object",
            {"VersionId": "v-9"},
            {
                "Bucket": "bucket",
                "Key": "repo/snapshots/ff",
                "Body": DATA,
                "ContentLength": len(DATA),
                "IfNoneMatch": "*",
                "ChecksumSHA256": base64.b64encode(hashlib.sha256(DATA).digest()).decode(),
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": until,
            },
        )
        assert store.put("snapshots/ff", DATA, retention=Retention(LockMode.COMPLIANCE, until)) == "v-9"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["PreconditionFailed", "412"])
def test_put_over_an_existing_key_is_object_exists(store: S3Store, code: str) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=412)
        with pytest.raises(ObjectExists) as err:
            store.put("snapshots/ff", DATA)
    assert err.value.key == "snapshots/ff"
    assert str(err.value) == "snapshots/ff: already exists"


def test_a_refused_put_names_the_key_the_operation_and_the_credentials(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(AccessDenied) as err:
            store.put("snapshots/ff", DATA)
    assert err.value.key == "snapshots/ff"
    assert str(err.value).startswith("snapshots/ff: put ")
    assert err.value.hint is not None
    assert "the access key given in the repository settings" in err.value.hint


def test_a_put_that_cannot_connect_is_transient(store: S3Store) -> None:
    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    store.client.meta.events.register("before-send.s3.PutObject", refuse)
    with pytest.raises(TransientStoreError) as err:
        store.put("snapshots/ff", DATA)
    assert err.value.key == "snapshots/ff"
    assert str(err.value).startswith("snapshots/ff: put failed: Could not connect")


def test_a_retention_in_the_past_is_refused_before_sending(store: S3Store) -> None:
    with Stubber(store.client) as stub:  # no response queued: any call would fail the stubber
        with pytest.raises(StoreError, match=r"^snapshots/ff: retain-until .* is not in the future$") as err:
            store.put(
                "snapshots/ff", DATA, retention=Retention(LockMode.COMPLIANCE, NOW - timedelta(seconds=1))
            )
        stub.assert_no_pending_responses()
    assert err.value.key == "snapshots/ff"
