"""apply_plan and existing_objects over a fake of drkit's own Requester interface: phase order, waits,
failures recorded (never raised), skip/fail never sent, force only for update, timeouts as results."""

from __future__ import annotations

import json
from typing import Any

from drkit.repo.engine.progress import CountingProgress
from drkit.restore.applier import apply_plan, existing_objects
from drkit.restore.model import (
    PHASE_CONFIGMAPS,
    PHASE_CRDS,
    PHASE_NAMESPACES,
    PHASE_OTHER,
    PHASE_WORKLOADS,
    Action,
    ObjectRef,
    RestorePlan,
    Verb,
)
from tests.unit.kube.fakeapi import FakeApi, FakeClock

NS = "shop"
CRD_GROUP = "example.com"


def ns_ref(name: str = NS) -> ObjectRef:
    return ObjectRef("", "v1", "namespaces", "Namespace", "", name)


def cm_ref(name: str, namespace: str = NS) -> ObjectRef:
    return ObjectRef("", "v1", "configmaps", "ConfigMap", namespace, name)


def deploy_ref(name: str) -> ObjectRef:
    return ObjectRef("apps", "v1", "deployments", "Deployment", NS, name)


CRD_REF = ObjectRef(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    "",
    "gadgets.example.com",
)
GADGET_REF = ObjectRef(CRD_GROUP, "v1", "gadgets", "Gadget", NS, "g1")


def body(ref: ObjectRef, **extra: Any) -> bytes:
    meta: dict[str, Any] = {"name": ref.name}
    if ref.namespace:
        meta["namespace"] = ref.namespace
    return json.dumps({"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta, **extra}).encode()


def act(
    ref: ObjectRef, phase: int, verb: Verb = Verb.CREATE, wait: str | None = None, **extra: Any
) -> Action:
    data = b"" if verb is Verb.SKIP else body(ref, **extra)
    return Action(
        ref, verb, f"{verb} because the test says so", data, phase, f"resources/{ref.name}.json", wait
    )


def crd_action() -> Action:
    spec = {"group": CRD_GROUP, "names": {"plural": "gadgets", "kind": "Gadget"}, "scope": "Namespaced"}
    return act(CRD_REF, PHASE_CRDS, wait="established", spec=spec)


def deployment_action(name: str, replicas: int = 1) -> Action:
    return act(deploy_ref(name), PHASE_WORKLOADS, wait="available", spec={"replicas": replicas})


def plan(*actions: Action) -> RestorePlan:
    return RestorePlan("snap", "fake", actions, ())


def establish_after(polls: int) -> Any:
    """CRDs become Established after ``polls`` GETs; their group is served from then on."""

    def hook(path: str, obj: dict[str, Any], gets: int) -> None:
        if "/customresourcedefinitions/" in path and gets >= polls:
            obj["status"] = {"conditions": [{"type": "Established", "status": "True"}]}

    return hook


def available_after(polls: int, only: str = "") -> Any:
    def hook(path: str, obj: dict[str, Any], gets: int) -> None:
        if "/deployments/" in path and path.endswith(only) and gets >= polls:
            want = obj["spec"].get("replicas", 1)
            obj["status"] = {
                "observedGeneration": obj["metadata"]["generation"],
                "replicas": want,
                "updatedReplicas": want,
                "availableReplicas": want,
                "conditions": [{"type": "Available", "status": "True"}],
            }

    return hook


def namespaces_active(path: str, obj: dict[str, Any], gets: int) -> None:
    if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
        obj.setdefault("status", {"phase": "Active"})


def fixture_api() -> tuple[FakeApi, FakeClock]:
    api = FakeApi()
    api.hooks += [establish_after(2), namespaces_active]
    return api, FakeClock()


def test_actions_run_in_phase_order_crds_established_first_and_waits_are_recorded() -> None:
    api, clock = fixture_api()
    api.hooks.append(available_after(3))
    shuffled = plan(
        deployment_action("web"),
        act(GADGET_REF, PHASE_OTHER, spec={"size": 3}),
        act(cm_ref("settings"), PHASE_CONFIGMAPS, data={"mode": "blue"}),
        act(ns_ref(), PHASE_NAMESPACES),
        crd_action(),
    )
    progress = CountingProgress()
    report = apply_plan(api, shuffled, progress=progress, clock=clock.now, sleep=clock.sleep)

    assert report.failed == []
    written = [c.path for c in api.writes()]
    assert written == [
        CRD_REF.api_path(),
        ns_ref().api_path(),
        cm_ref("settings").api_path(),
        deploy_ref("web").api_path(),
        GADGET_REF.api_path(),
    ]
    # the CRD was polled until Established before the namespace was sent
    first_ns_write = next(
        i for i, c in enumerate(api.calls) if c.verb == "PATCH" and "namespaces/shop" in c.path
    )
    crd_gets = [i for i, c in enumerate(api.calls) if c.verb == "GET" and c.path == CRD_REF.api_path()]
    assert len(crd_gets) == 2
    assert max(crd_gets) < first_ns_write
    waited = {r.action.ref: r for r in report.waits}
    assert set(waited) == {CRD_REF, ns_ref(), deploy_ref("web")}
    assert all(r.ok for r in report.waits)
    assert "Established" in waited[CRD_REF].message
    assert "1 of 1 replicas available" in waited[deploy_ref("web")].message
    # the Deployment's wait ran after everything was applied (the custom resource too)
    last_write = max(i for i, c in enumerate(api.calls) if c.verb == "PATCH")
    deploy_gets = [
        i for i, c in enumerate(api.calls) if c.verb == "GET" and c.path == deploy_ref("web").api_path()
    ]
    assert min(deploy_gets) > last_write
    assert len(deploy_gets) == 3
    assert [p.phase for p in progress.phases] == [
        "apply crds",
        "wait crds",
        "apply namespaces",
        "wait namespaces",
        "apply configmaps",
        "apply workloads",
        "apply other",
        "wait workloads",
    ]
    assert progress.count("apply crds") == 1
    assert progress.count("wait workloads") == 1
    assert [r.action.ref for r in report.results] == [
        CRD_REF,
        ns_ref(),
        cm_ref("settings"),
        deploy_ref("web"),
        GADGET_REF,
    ]


def test_force_only_for_update_and_field_manager_drkit() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}, "status": {"phase": "Active"}})
    api.add(cm_ref("owned").api_path(), {"metadata": {"name": "owned"}, "data": {"mode": "red"}})
    api.conflicts.add(cm_ref("owned").api_path())
    report = apply_plan(
        api,
        plan(
            act(cm_ref("new"), PHASE_CONFIGMAPS, data={"a": "1"}),
            act(cm_ref("owned"), PHASE_CONFIGMAPS, Verb.UPDATE, data={"mode": "blue"}),
        ),
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert report.failed == []
    by_path = {c.path: c for c in api.writes()}
    assert by_path[cm_ref("new").api_path()].query == {"fieldManager": "drkit"}
    assert by_path[cm_ref("owned").api_path()].query == {"fieldManager": "drkit", "force": "true"}
    assert api.objects[cm_ref("owned").api_path()]["data"] == {"mode": "blue"}
    assert {c.content_type for c in api.writes()} == {"application/apply-patch+yaml"}
    assert [r.message for r in report.results] == [
        "created (server-side apply)",
        "updated (server-side apply, forced)",
    ]


def test_a_create_that_conflicts_is_a_failed_result_not_forced() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.conflicts.add(cm_ref("raced").api_path())
    report = apply_plan(api, plan(act(cm_ref("raced"), PHASE_CONFIGMAPS)), clock=clock.now, sleep=clock.sleep)
    [failed] = report.failed
    assert "HTTP 409" in failed.message
    assert ".data.mode" in failed.message
    assert "force" in failed.message  # the hint says how to take the fields over


def test_skip_and_fail_are_recorded_and_never_sent() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    report = apply_plan(
        api,
        plan(
            act(cm_ref("kept"), PHASE_CONFIGMAPS, Verb.SKIP),
            act(cm_ref("clash"), PHASE_CONFIGMAPS, Verb.FAIL),
            act(cm_ref("new"), PHASE_CONFIGMAPS),
        ),
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert [c.path for c in api.writes()] == [cm_ref("new").api_path()]
    kept, clash, new = report.results
    assert kept.ok
    assert kept.message.startswith("skipped: skip because")
    assert not clash.ok
    assert clash.message.startswith("not restored: fail because")
    assert new.ok
    assert report.failed == [clash]
    assert report.to_json()["failed"] == 1


def test_one_invalid_object_fails_alone_naming_its_fields_and_the_rest_goes_on() -> None:
    api, clock = fixture_api()
    api.hooks.append(available_after(1))
    report = apply_plan(
        api,
        plan(
            act(ns_ref(), PHASE_NAMESPACES),
            deployment_action("broken", replicas=-1),
            deployment_action("fine"),
            act(cm_ref("after"), PHASE_OTHER),
        ),
        clock=clock.now,
        sleep=clock.sleep,
    )
    [failed] = report.failed
    assert failed.action.ref == deploy_ref("broken")
    assert "spec.replicas" in failed.message
    assert "HTTP 422" in failed.message
    assert [r.action.ref for r in report.waits] == [ns_ref(), deploy_ref("fine")]  # no wait for the failure
    assert api.objects[cm_ref("after").api_path()]


def test_missing_namespace_is_a_failed_result_naming_it() -> None:
    api, clock = fixture_api()
    report = apply_plan(
        api, plan(act(cm_ref("orphan", "nowhere"), PHASE_CONFIGMAPS)), clock=clock.now, sleep=clock.sleep
    )
    [failed] = report.failed
    assert 'namespaces "nowhere" not found' in failed.message


def test_a_deployment_that_never_becomes_available_times_out_as_a_result_with_what_was_seen() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.hooks.append(available_after(2, only="/fast"))
    report = apply_plan(
        api,
        plan(deployment_action("fast"), deployment_action("stuck", replicas=2)),
        timeouts={"deployment": 30},
        interval=1.0,
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert [r.ok for r in report.results] == [True, True]
    fast, stuck = report.waits
    assert fast.ok
    assert not stuck.ok
    assert "timed out after 30s" in stuck.message
    assert "0 of 2 replicas available" in stuck.message
    assert 30 <= stuck.duration_s < 32
    assert report.failed == [stuck]
    assert clock.now_s < 32  # both waits were polled together, not one after the other


def test_timeouts_by_kind_resource_wait_name_or_default() -> None:
    for timeouts, expected in (
        ({"Deployment": 7}, 7),
        ({"deployments": 8}, 8),
        ({"available": 9}, 9),
        ({"default": 11}, 11),
        (None, 300),
    ):
        api, clock = fixture_api()
        api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
        report = apply_plan(
            api, plan(deployment_action("stuck")), timeouts=timeouts, clock=clock.now, sleep=clock.sleep
        )
        [wait] = report.waits
        assert f"timed out after {expected}s" in wait.message, (timeouts, wait.message)


def test_a_custom_resource_404_just_after_establishment_is_retried() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.unserved_groups.add(CRD_GROUP)
    answers = {"n": 0}

    original = api.request

    def request(verb: str, path: str, **kw: Any) -> Any:
        if verb == "PATCH" and path == GADGET_REF.api_path():
            answers["n"] += 1
            if answers["n"] == 3:
                api.unserved_groups.discard(CRD_GROUP)
        return original(verb, path, **kw)

    api.request = request  # type: ignore[method-assign]
    report = apply_plan(
        api, plan(crd_action(), act(GADGET_REF, PHASE_OTHER)), clock=clock.now, sleep=clock.sleep
    )
    assert report.failed == []
    assert answers["n"] == 3
    assert api.objects[GADGET_REF.api_path()]["kind"] == "Gadget"


def test_a_crd_that_never_establishes_fails_its_wait_and_its_custom_resources_name_it() -> None:
    api, clock = FakeApi(), FakeClock()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.unserved_groups.add(CRD_GROUP)
    report = apply_plan(
        api,
        plan(crd_action(), act(GADGET_REF, PHASE_OTHER)),
        timeouts={"established": 5},
        clock=clock.now,
        sleep=clock.sleep,
    )
    gadget, wait = report.failed  # results first, then waits
    assert wait.action.ref == CRD_REF
    assert "timed out after 5s" in wait.message
    assert gadget.action.ref == GADGET_REF
    assert "HTTP 404" in gadget.message
    assert "its CRD gadgets.example.com did not become Established" in gadget.message
    assert [c.verb for c in api.calls if c.path == GADGET_REF.api_path()] == ["PATCH"]  # no retries


def test_transient_errors_are_retried_then_recorded() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.failures[cm_ref("flaky").api_path()] = [503, 503]
    api.failures[cm_ref("down").api_path()] = [503] * 10
    report = apply_plan(
        api,
        plan(act(cm_ref("flaky"), PHASE_CONFIGMAPS), act(cm_ref("down"), PHASE_CONFIGMAPS)),
        clock=clock.now,
        sleep=clock.sleep,
    )
    flaky, down = report.results
    assert flaky.ok
    assert not down.ok
    assert "HTTP 503" in down.message
    assert len(api.failures[cm_ref("down").api_path()]) == 6  # 1 try + 3 retries


def test_create_only_posts_and_an_existing_object_is_a_conflict() -> None:
    api, clock = fixture_api()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    api.add(cm_ref("there").api_path(), {"metadata": {"name": "there"}})
    report = apply_plan(
        api,
        plan(act(cm_ref("there"), PHASE_CONFIGMAPS), act(cm_ref("new"), PHASE_CONFIGMAPS)),
        create_only=True,
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert {c.verb for c in api.writes()} == {"POST"}
    there, new = report.results
    assert not there.ok
    assert "already exists" in there.message
    assert "HTTP 409" in there.message
    assert new.ok
    assert new.message == "created"


def test_existing_objects_gets_single_objects_and_lists_shared_collections() -> None:
    api = FakeApi()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    for name in ("a", "b"):
        api.add(cm_ref(name).api_path(), {"metadata": {"name": name}})
    refs = [
        ns_ref(),
        ns_ref("absent"),
        cm_ref("a"),
        cm_ref("b"),
        cm_ref("c"),
        cm_ref("x", "nowhere"),
        cm_ref("y", "nowhere"),
        GADGET_REF,
    ]
    api.unserved_groups.add(CRD_GROUP)
    found = existing_objects(api, refs)
    assert found == {ns_ref(), cm_ref("a"), cm_ref("b")}
    lists = [c for c in api.calls if c.query.get("limit")]
    assert {c.path for c in lists} == {
        "/api/v1/namespaces",
        cm_ref("a").collection_path(),
        "/api/v1/namespaces/nowhere/configmaps",
    }
    assert api.gets.get(cm_ref("a").api_path()) is None  # listed, not fetched one by one


def test_empty_plan_is_an_empty_report() -> None:
    api, clock = fixture_api()
    report = apply_plan(api, plan(), clock=clock.now, sleep=clock.sleep)
    assert report.results == ()
    assert report.waits == ()
    assert report.failed == []
    assert api.calls == []


def test_include_status_writes_status_through_the_subresource_after_the_object() -> None:
    api = FakeApi()
    api.add(ns_ref().api_path(), {"metadata": {"name": NS}})
    status = body(GADGET_REF, status={"phase": "Ready", "observedGeneration": 1})
    gadget = Action(
        GADGET_REF, Verb.CREATE, "r", body(GADGET_REF, spec={"size": 3}), PHASE_OTHER, "p", None, status
    )
    report = apply_plan(api, plan(gadget), clock=FakeClock().now, sleep=FakeClock().sleep)
    paths = [c.path for c in api.writes()]
    assert paths == [GADGET_REF.api_path(), GADGET_REF.api_path() + "/status"]
    assert api.writes()[1].body["status"] == {"phase": "Ready", "observedGeneration": 1}
    assert api.writes()[1].query.get("force") == "true"
    (result,) = report.results
    assert result.ok
    assert result.message == "created (server-side apply); status written through /status"
