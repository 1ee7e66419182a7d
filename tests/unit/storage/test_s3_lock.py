"""S3Store's Object Lock calls besides put: the retention it reads (head, get_object_retention), the
retention it extends (put_object_retention: version pinned, mode kept, never shortened) and the deletes
it sends (version pinned, GOVERNANCE bypass only when configured, a refusal told apart as a lock or a
credential). Checked on the calls' parameters with botocore's Stubber (nothing leaves the process);
the integration tier checks that MinIO and SeaweedFS enforce them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from drkit.secret import Secret
from drkit.storage.base import LockMode, Retention
from drkit.storage.errors import AccessDenied, ObjectLocked, StoreError, TransientStoreError
from drkit.storage.options import S3Options
from drkit.storage.s3 import S3Store, _raise

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LOCKED = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
LONGER = datetime(2026, 12, 20, 12, 0, 0, 250_000, tzinfo=UTC)  # sent rounded up to the second
SENT = datetime(2026, 12, 20, 12, 0, 1, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def _store(**options: Any) -> S3Store:
    s3 = S3Options(
        endpoint="http://127.0.0.1:1", access_key="test", secret_key=Secret("test-secret-key"), **options
    )
    return S3Store("bucket", "repo", s3, clock=lambda: NOW)


@pytest.fixture
def store() -> S3Store:
    return _store()


def _head(
    version: str | None = "v1", mode: str | None = None, until: datetime | None = None
) -> dict[str, Any]:
    resp: dict[str, Any] = {"ContentLength": 7, "LastModified": datetime(2026, 12, 1, 14, 0, tzinfo=PLUS2)}
    if version is not None:
        resp["VersionId"] = version
    if mode is not None:
        resp["ObjectLockMode"] = mode
    if until is not None:
        resp["ObjectLockRetainUntilDate"] = until
    return resp


def _key(version: str | None = None) -> dict[str, Any]:
    params = {"Bucket": "bucket", "Key": "repo/data/ab/abcd"}
    if version is not None:
        params["VersionId"] = version
    return params


# -- reading the lock --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "mode"), [("COMPLIANCE", LockMode.COMPLIANCE), ("GOVERNANCE", LockMode.GOVERNANCE)]
)
def test_head_reads_the_lock_headers(store: S3Store, header: str, mode: LockMode) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v1", header, LOCKED.astimezone(PLUS2)), _key("v1"))
        info = store.head("data/ab/abcd", version_id="v1")
    assert info.retention == Retention(mode, LOCKED)
    assert info.retention.until.tzinfo is UTC
    assert info.version_id == "v1"
    assert info.size == 7
    assert info.last_modified == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert info.last_modified.tzinfo is UTC


@pytest.mark.parametrize(
    "lock", [{}, {"mode": "COMPLIANCE"}, {"until": LOCKED}], ids=["none", "mode only", "date only"]
)
def test_head_without_both_lock_headers_has_no_retention(store: S3Store, lock: dict[str, Any]) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("null", **lock), _key())
        info = store.head("data/ab/abcd")
    assert info.retention is None
    assert info.version_id is None  # "null": an unversioned object


# -- extending it ------------------------------------------------------------------------------------


def test_extend_retention_pins_the_newest_version_and_keeps_its_mode(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v7", "COMPLIANCE", LOCKED), _key())
        stub.add_response(
            "get_object_retention",
            {"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": LOCKED}},
            _key("v7"),
        )
        stub.add_response(
            "put_object_retention",
            {},
            {**_key("v7"), "Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": SENT}},
        )
        store.extend_retention("data/ab/abcd", LONGER)
        stub.assert_no_pending_responses()


def test_extend_retention_of_a_given_version_reads_no_head(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response(
            "get_object_retention",
            {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": LOCKED}},
            _key("v3"),
        )
        stub.add_response(
            "put_object_retention",
            {},
            {**_key("v3"), "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": SENT}},
        )
        store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("current", [SENT, SENT + timedelta(seconds=1)], ids=["equal", "later"])
def test_extend_retention_never_shortens_nor_resends(store: S3Store, current: datetime) -> None:
    with Stubber(store.client) as stub:  # a put_object_retention call would find no response: error
        stub.add_response(
            "get_object_retention",
            {"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": current}},
            _key("v3"),
        )
        store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("mode", [LockMode.COMPLIANCE, LockMode.GOVERNANCE])
@pytest.mark.parametrize(
    "no_retention",
    [
        ("error", "NoSuchObjectLockConfiguration"),
        ("error", "ObjectLockConfigurationNotFoundError"),
        ("reply", {}),
        ("reply", {"Retention": {"Mode": "COMPLIANCE"}}),
        ("reply", {"Retention": {"RetainUntilDate": LOCKED}}),
    ],
    ids=["no lock configuration", "no object lock", "empty", "mode only", "date only"],
)
def test_extend_retention_of_an_object_without_one_uses_the_default_mode(
    mode: LockMode, no_retention: tuple[str, Any]
) -> None:
    store = _store(default_mode=mode)
    how, what = no_retention
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head(None), _key())
        if how == "error":
            stub.add_client_error("get_object_retention", service_error_code=what, http_status_code=404)
        else:
            stub.add_response("get_object_retention", what, _key())
        stub.add_response(
            "put_object_retention",
            {},
            {**_key(), "Retention": {"Mode": mode.value.upper(), "RetainUntilDate": SENT}},
        )
        store.extend_retention("data/ab/abcd", LONGER)  # unversioned: no VersionId anywhere
        stub.assert_no_pending_responses()


def test_extend_retention_refused_by_the_lock_is_object_locked(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("get_object_retention", {}, _key("v3"))
        stub.add_client_error(
            "put_object_retention",
            service_error_code="InvalidRequest",
            service_message="Object is WORM protected and cannot be overwritten",
            http_status_code=400,
        )
        with pytest.raises(ObjectLocked) as err:
            store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
    assert str(err.value) == (
        "data/ab/abcd: retention not changed: "
        "InvalidRequest (400): Object is WORM protected and cannot be overwritten"
    )
    assert err.value.key == "data/ab/abcd"


def test_extend_retention_refused_by_the_credential_is_access_denied(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("get_object_retention", {}, _key("v3"))
        stub.add_client_error("put_object_retention", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(AccessDenied) as err:
            store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
    assert str(err.value).startswith("data/ab/abcd: extend_retention denied: AccessDenied (403)")
    assert err.value.hint is not None
    assert "repository settings" in err.value.hint


def test_a_retention_that_cannot_be_read_is_not_taken_as_none(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("get_object_retention", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(AccessDenied) as err:
            store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
    assert str(err.value).startswith("data/ab/abcd (version v3): get_object_retention denied")


def _unreachable(**_: Any) -> None:
    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def _answer(parsed: dict[str, Any]) -> Any:
    """A before-call handler that answers the call as a server would have (what Stubber does)."""
    http: Any = AWSResponse("http://127.0.0.1:1", 200, {}, None)  # type: ignore[arg-type]
    return lambda **_: (http, parsed)


def test_extend_retention_that_cannot_connect_is_transient(store: S3Store) -> None:
    events = store.client.meta.events
    events.register("before-call.s3.GetObjectRetention", _answer({}))
    events.register("before-parameter-build.s3.PutObjectRetention", _unreachable)
    with pytest.raises(TransientStoreError, match=r"^data/ab/abcd: extend_retention failed: "):
        store.extend_retention("data/ab/abcd", LONGER, version_id="v3")
    events.register_first("before-parameter-build.s3.GetObjectRetention", _unreachable)
    with pytest.raises(
        TransientStoreError, match=r"^data/ab/abcd \(version v3\): get_object_retention failed: "
    ):
        store.extend_retention("data/ab/abcd", LONGER, version_id="v3")


# -- deleting under a lock ---------------------------------------------------------------------------


@pytest.mark.parametrize("bypass", [False, True])
def test_delete_pins_the_version_and_bypasses_governance_only_when_configured(bypass: bool) -> None:
    store = _store(bypass_governance=bypass)
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5"), _key())
        expected = {**_key("v5"), **({"BypassGovernanceRetention": True} if bypass else {})}
        stub.add_response("delete_object", {}, expected)
        store.delete("data/ab/abcd")
        stub.assert_no_pending_responses()


def test_delete_of_an_unversioned_object_sends_no_version(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("null"), _key())
        stub.add_response("delete_object", {}, _key())
        store.delete("data/ab/abcd")
        stub.assert_no_pending_responses()


def test_a_delete_the_server_calls_locked_is_object_locked(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5", "GOVERNANCE", LOCKED), _key("v5"))
        stub.add_client_error(
            "delete_object",
            service_error_code="InvalidRequest",
            service_message="Object is WORM protected and cannot be overwritten",
            http_status_code=400,
        )
        with pytest.raises(ObjectLocked) as err:
            store.delete("data/ab/abcd", version_id="v5")
    assert err.value.key == "data/ab/abcd"
    assert str(err.value) == (
        "data/ab/abcd: locked until 2026-12-09T12:00:00+00:00: "
        "InvalidRequest (400): Object is WORM protected and cannot be overwritten"
    )


@pytest.mark.parametrize("code", ["AccessDenied", "403"])
def test_a_plain_403_on_a_version_still_locked_is_object_locked(store: S3Store, code: str) -> None:
    # SeaweedFS answers 403 AccessDenied for a lock too: the version's retention decides
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5", "COMPLIANCE", NOW + timedelta(seconds=1)), _key("v5"))
        stub.add_client_error("delete_object", service_error_code=code, http_status_code=403)
        with pytest.raises(ObjectLocked, match=r"^data/ab/abcd: locked until 2026-12-02T12:00:01\+00:00: "):
            store.delete("data/ab/abcd", version_id="v5")


def test_a_403_after_the_retention_ended_is_the_credential(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5", "COMPLIANCE", NOW), _key("v5"))  # ends exactly now
        stub.add_client_error("delete_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(AccessDenied) as err:
            store.delete("data/ab/abcd", version_id="v5")
    assert not isinstance(err.value, ObjectLocked)
    assert str(err.value).startswith("data/ab/abcd: delete denied: AccessDenied (403)")


def test_a_403_without_lock_headers_asks_for_the_versions_retention(store: S3Store) -> None:
    # a head that carried no lock headers (no permission to read them): the retention is asked for
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5"), _key("v5"))
        stub.add_client_error("delete_object", service_error_code="AccessDenied", http_status_code=403)
        stub.add_response(
            "get_object_retention",
            {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": LOCKED}},
            _key("v5"),
        )
        with pytest.raises(ObjectLocked) as err:
            store.delete("data/ab/abcd", version_id="v5")
        stub.assert_no_pending_responses()
    assert str(err.value) == "data/ab/abcd: locked: AccessDenied (403)"


@pytest.mark.parametrize(
    "retention",
    [
        ("reply", {}),
        ("error", "AccessDenied"),
    ],
    ids=["no retention", "retention unreadable"],
)
def test_a_403_on_a_version_with_no_lock_to_be_found_is_the_credential(
    store: S3Store, retention: tuple[str, Any]
) -> None:
    how, what = retention
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5"), _key("v5"))
        stub.add_client_error("delete_object", service_error_code="AccessDenied", http_status_code=403)
        if how == "reply":
            stub.add_response("get_object_retention", what, _key("v5"))
        else:
            stub.add_client_error("get_object_retention", service_error_code=what, http_status_code=403)
        with pytest.raises(AccessDenied) as err:
            store.delete("data/ab/abcd", version_id="v5")
    assert not isinstance(err.value, ObjectLocked)
    assert str(err.value).startswith("data/ab/abcd: delete denied: ")


def test_another_refusal_of_a_locked_version_is_not_called_a_lock(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_response("head_object", _head("v5", "COMPLIANCE", LOCKED), _key("v5"))
        stub.add_client_error("delete_object", service_error_code="InternalError", http_status_code=500)
        with pytest.raises(TransientStoreError, match=r"^data/ab/abcd: delete failed: InternalError \(500\)"):
            store.delete("data/ab/abcd", version_id="v5")


def test_a_delete_that_cannot_connect_is_transient(store: S3Store) -> None:
    store.client.meta.events.register("before-call.s3.HeadObject", _answer(_head("v5")))
    store.client.meta.events.register("before-parameter-build.s3.DeleteObject", _unreachable)
    with pytest.raises(TransientStoreError, match=r"^data/ab/abcd: delete failed: "):
        store.delete("data/ab/abcd", version_id="v5")


def test_a_reply_without_an_error_section_is_classified_by_its_status() -> None:
    reply: Any = {"ResponseMetadata": {"HTTPStatusCode": 403}}
    with pytest.raises(AccessDenied):
        _raise(ClientError(reply, "DeleteObject"), "data/ab/abcd", "delete")
    reply = {"ResponseMetadata": {"HTTPStatusCode": 400}}
    with pytest.raises(StoreError) as err:
        _raise(ClientError(reply, "DeleteObject"), "data/ab/abcd", "delete")
    assert type(err.value) is StoreError
