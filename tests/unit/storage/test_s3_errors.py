"""S3Store's error classification as a table: the replies real servers give (see docs/storage.md) and
the ones they cannot be made to give on demand (throttling, 5xx). Plain botocore exception values,
no S3 behaviour faked: the integration tests get the real replies from MinIO and SeaweedFS."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)

from drkit.storage.errors import (
    AccessDenied,
    ObjectLocked,
    ObjectNotFound,
    StoreError,
    TransientStoreError,
)
from drkit.storage.s3 import _raise


def reply(code: str, status: int, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("exc", "version_id", "expected"),
    [
        (reply("NoSuchKey", 404), None, ObjectNotFound),
        (reply("404", 404, "Not Found"), None, ObjectNotFound),
        (reply("NoSuchVersion", 404), "v1", ObjectNotFound),
        (reply("InvalidArgument", 400, "Invalid version id specified"), "v1", ObjectNotFound),
        (reply("400", 400, "Bad Request"), "v1", ObjectNotFound),
        (reply("400", 400, "Bad Request"), None, StoreError),
        (reply("NoSuchBucket", 404), None, StoreError),
        (
            reply("InvalidRequest", 400, "Object is WORM protected and cannot be overwritten"),
            "v1",
            ObjectLocked,
        ),
        (reply("AccessDenied", 403, "Access Denied."), None, AccessDenied),
        (reply("InvalidAccessKeyId", 403), None, AccessDenied),
        (reply("SignatureDoesNotMatch", 403), None, AccessDenied),
        (reply("403", 403, "Forbidden"), None, AccessDenied),
        (reply("SlowDown", 503), None, TransientStoreError),
        (reply("ServiceUnavailable", 503), None, TransientStoreError),
        (reply("InternalError", 500), None, TransientStoreError),
        (reply("RequestTimeout", 400), None, TransientStoreError),
        (reply("XMinioServerNotInitialized", 503), None, TransientStoreError),
        (reply("BadGateway", 502), None, TransientStoreError),
        (reply("InvalidRequest", 400, "Invalid Request"), None, StoreError),
        # the body the server received does not match the checksum sent with it: changed in transit
        (reply("XAmzContentChecksumMismatch", 400), None, TransientStoreError),
        (reply("BadDigest", 400), None, TransientStoreError),
        # the body received does not match the checksum the server sent with it: read it again
        (
            FlexibleChecksumError(error_msg="Expected checksum abc did not match calculated checksum: def"),
            None,
            TransientStoreError,
        ),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), None, TransientStoreError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), None, TransientStoreError),
        (NoCredentialsError(), None, AccessDenied),
        (
            SSLError(endpoint_url="https://127.0.0.1:1", error=OSError("certificate verify failed")),
            None,
            StoreError,
        ),
    ],
)
def test_classification(exc: Exception, version_id: str | None, expected: type[StoreError]) -> None:
    with pytest.raises(StoreError) as err:
        _raise(exc, "packs/ab", "get", version_id)
    assert type(err.value) is expected
    assert err.value.key == "packs/ab"
    assert "packs/ab" in str(err.value)
    assert err.value.__cause__ is exc
    assert err.value.transient == (expected is TransientStoreError)


def test_a_refusal_names_where_the_credentials_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    from drkit.secret import Secret
    from drkit.storage.options import S3Options
    from drkit.storage.s3 import S3Store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-value")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    store = S3Store("b", options=S3Options(endpoint="http://127.0.0.1:9"))  # nothing is sent
    with pytest.raises(AccessDenied) as denied:
        store._raise(reply("AccessDenied", 403, "Access Denied."), "snapshots/x", "delete")
    assert denied.value.hint is not None
    assert "came from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment" in denied.value.hint
    assert "docs/security.md" in denied.value.hint
    assert "AKIAEXAMPLEKEYID0001" not in denied.value.hint

    given = S3Store(
        "b", options=S3Options(endpoint="http://127.0.0.1:9", access_key="AKIAOTHER", secret_key=Secret("s"))
    )
    with pytest.raises(AccessDenied) as denied:
        given._raise(reply("403", 403, "Forbidden"), "data/p", "put")
    assert "the access key given in the repository settings" in str(denied.value.hint)
    assert "AKIAOTHER" not in str(denied.value.hint)
