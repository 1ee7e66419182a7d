"""drkit.kube.apply without a server: paths, field causes of 422 answers, error refinement, requests sent."""

from __future__ import annotations

import json

import pytest

from drkit.kube.apply import (
    KubeConflict,
    KubeInvalid,
    collection_path,
    create,
    existing_names,
    field_causes,
    get,
    object_path,
    server_side_apply,
)
from drkit.kube.errors import KubeForbidden
from tests.unit.kube.fakeapi import FakeApi


def test_paths_core_groups_cluster_scoped_and_escaped() -> None:
    assert collection_path("", "v1", "configmaps", "shop") == "/api/v1/namespaces/shop/configmaps"
    assert (
        object_path("apps", "v1", "deployments", "shop", "web")
        == "/apis/apps/v1/namespaces/shop/deployments/web"
    )
    assert object_path("", "v1", "namespaces", "", "shop") == "/api/v1/namespaces/shop"
    assert object_path("rbac.authorization.k8s.io", "v1", "clusterroles", "", "system:view") == (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aview"
    )
    for bad in ("a/b", "..", "."):
        with pytest.raises(ValueError, match="not a valid name"):
            object_path("", "v1", "configmaps", "shop", bad)
    with pytest.raises(ValueError, match="needs a name"):
        object_path("", "v1", "configmaps", "shop", "")


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (
            'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or'
            ' equal to 0, spec.template.metadata.labels: Invalid value: map[string]string{"a":"b"}:'
            " `selector` does not match template `labels`]",
            ["spec.replicas", "spec.template.metadata.labels"],
        ),
        (
            'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123'
            " subdomain must consist of lower case alphanumeric characters, '-' or '.'",
            ["metadata.name"],
        ),
        (
            'Pod "p" is invalid: spec.containers[0].image: Required value',
            ["spec.containers[0].image"],
        ),
        (
            'Service "s" is invalid: spec.ports[0].protocol: Unsupported value: "XTP": supported values:'
            ' "SCTP", "TCP", "UDP"',
            ["spec.ports[0].protocol"],
        ),
        ("something the API server said without fields", []),
    ],
)
def test_field_causes_of_real_422_messages(message: str, fields: list[str]) -> None:
    causes = field_causes(message)
    assert [c.field for c in causes] == fields
    for cause in causes:
        assert cause.message.startswith(cause.field)
        assert cause.reason in cause.message


def test_apply_sends_bytes_as_apply_patch_with_field_manager_and_force() -> None:
    api = FakeApi()
    api.add("/api/v1/namespaces/shop", {"metadata": {"name": "shop"}})
    body = (
        b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"shop"},"data":{"k":"v"}}'
    )
    stored = server_side_apply(api, "/api/v1/namespaces/shop/configmaps/x", body, force=True, dry_run=True)
    assert stored["data"] == {"k": "v"}
    [call] = api.calls
    assert call.verb == "PATCH"
    assert call.content_type == "application/apply-patch+yaml"
    assert call.query == {"fieldManager": "drkit", "force": "true", "dryRun": "All"}
    assert call.body == json.loads(body)


def test_errors_are_refined_conflict_invalid_and_others_kept() -> None:
    api = FakeApi()
    api.add("/api/v1/namespaces/shop", {"metadata": {"name": "shop"}})
    api.conflicts.add("/api/v1/namespaces/shop/configmaps/x")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}
    with pytest.raises(KubeConflict) as conflict:
        server_side_apply(api, "/api/v1/namespaces/shop/configmaps/x", json.dumps(cm).encode())
    assert conflict.value.status == 409
    assert "force" in (conflict.value.hint or "")
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": -2}}
    with pytest.raises(KubeInvalid) as invalid:
        server_side_apply(api, "/apis/apps/v1/namespaces/shop/deployments/d", json.dumps(bad).encode())
    assert invalid.value.fields == ["spec.replicas", "spec.template.metadata.labels"]
    assert invalid.value.exit_code == 17

    create(api, "/api/v1/namespaces/shop/configmaps", json.dumps({**cm, "metadata": {"name": "y"}}).encode())
    with pytest.raises(KubeConflict, match="already exists") as exists:
        create(
            api, "/api/v1/namespaces/shop/configmaps", json.dumps({**cm, "metadata": {"name": "y"}}).encode()
        )
    assert "apply it instead" in (exists.value.hint or "")

    api.failures["/api/v1/namespaces/shop/secrets/s"] = [403]
    with pytest.raises(KubeForbidden):
        get(api, "/api/v1/namespaces/shop/secrets/s")


def test_get_is_none_for_a_missing_object_namespace_or_type() -> None:
    api = FakeApi()
    api.add("/api/v1/namespaces/shop", {"metadata": {"name": "shop"}})
    api.unserved_groups.add("example.com")
    assert get(api, "/api/v1/namespaces/shop/configmaps/none") is None
    assert get(api, "/api/v1/namespaces/gone/configmaps/x") is None
    assert get(api, "/apis/example.com/v1/namespaces/shop/gadgets/g") is None
    assert get(api, "/api/v1/namespaces/shop") == {"metadata": {"name": "shop"}}


def test_existing_names_lists_metadata_only() -> None:
    api = FakeApi()
    api.add("/api/v1/namespaces/shop", {"metadata": {"name": "shop"}})
    api.add("/api/v1/namespaces/shop/configmaps/a", {"metadata": {"name": "a"}, "data": {"big": "x" * 100}})
    assert existing_names(api, "/api/v1/namespaces/shop/configmaps") == {"a"}
    assert existing_names(api, "/api/v1/namespaces/gone/configmaps") == set()
    assert api.calls[0].query == {"limit": "500"}


def test_status_causes_are_preferred_to_the_message_text() -> None:
    from drkit.kube.apply import refine, status_field_causes
    from drkit.kube.errors import KubeAPIError

    causes = (
        ("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0"),
        ("metadata.name", "FieldValueRequired", "Required value"),
        ("", "FieldValueInvalid", "no field: dropped"),
        ("spec.x", "SomethingNew", "said plainly"),
    )
    found = status_field_causes(causes)
    assert [(c.field, c.reason) for c in found] == [
        ("spec.replicas", "Invalid value"), ("metadata.name", "Required value"), ("spec.x", "SomethingNew"),
    ]  # fmt: skip
    assert found[0].message == "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    error = KubeAPIError(
        "PATCH /x: HTTP 422",
        status=422,
        verb="PATCH",
        path="/x",
        api_message="unparseable",
        status_causes=causes,
    )
    refined = refine(error)
    assert [c.field for c in getattr(refined, "causes", ())] == ["spec.replicas", "metadata.name", "spec.x"]
    text_only = refine(
        KubeAPIError(
            "PATCH /x: HTTP 422",
            status=422,
            verb="PATCH",
            path="/x",
            api_message='Pod "p" is invalid: spec.containers[0].image: Required value',
        )
    )
    assert [c.field for c in getattr(text_only, "causes", ())] == ["spec.containers[0].image"]
