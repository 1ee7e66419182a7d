"""Checks: parsing (file/line/field errors), and each check against a fake of drkit's Kube interface."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from drkit.config.yamlsource import load_yaml_text
from drkit.drill.checks import CheckContext, CheckSpec, Status, parse_checks, run_check
from drkit.errors import ConfigError
from tests.unit.drill.fakes import RESOLVE, Clock, FakeFiles, FakeKube, FakeVolumes

SECRET = "hunter2-never-shown"


def parse(text: str) -> tuple[CheckSpec, ...]:
    return parse_checks(load_yaml_text(text, "plan.yaml"), file="plan.yaml")


def one(text: str) -> CheckSpec:
    (spec,) = parse(text)
    return spec


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "- exist: {kind: A, name: b}\n",
            1,
            "checks[0].exist",
            "unknown field 'exist'; did you mean 'exists'?",
        ),
        ("- name: x\n", 1, "checks[0]", "no check type"),
        ("- exists: {kind: A, name: b}\n  count: {kind: A, min: 1}\n", 1, "checks[0]", "several check types"),
        ("- exists: {kind: A}\n", 1, "checks[0].exists.name", "missing required field"),
        ("- exists: {kind: A, name: b, color: red}\n", 1, "checks[0].exists.color", "unknown field 'color'"),
        ("- count: {kind: A}\n", 1, "checks[0].count", "give min or equals"),
        ("- count: {kind: A, min: 1, equals: 2}\n", 1, "checks[0].count.equals", "not both"),
        ("- count: {kind: A, min: -1}\n", 1, "checks[0].count.min", "must be at least 0"),
        ("- count: {kind: A, min: 'x'}\n", 1, "checks[0].count.min", "expected a whole number"),
        (
            "- available: {kind: ConfigMap, name: b}\n",
            1,
            "checks[0].available.kind",
            "Deployment or StatefulSet",
        ),
        (
            "- configmapEquals: {name: b}\n",
            1,
            "checks[0].configmapEquals.namespace",
            "missing required field",
        ),
        (
            "- volumeChecksum: {namespace: a, pvc: b, path: ../x}\n",
            1,
            "checks[0].volumeChecksum.path",
            "relative",
        ),
        (
            "- httpProbe: {namespace: a, service: b, port: [1]}\n",
            1,
            "checks[0].httpProbe.port",
            "port number",
        ),
        (
            "- httpProbe: {namespace: a, service: b, port: 80, scheme: ftp}\n",
            1,
            "checks[0].httpProbe.scheme",
            "http",
        ),
        ("- command: {run: []}\n", 1, "checks[0].command.run", "expected a command"),
        ("- command: {run: [ls, 3]}\n", 1, "checks[0].command.run[1]", "non-empty string"),
        ("- command: {run: ls}\n  timeout: 0s\n", 2, "checks[0].timeout", "must be positive"),
        ("- command: {run: ls}\n  timeout: soon\n", 2, "checks[0].timeout", "duration"),
        (
            "- exists: {kind: A, name: b}\n- exists: {kind: A, name: b}\n",
            None,
            "plan.yaml:2",
            "two checks are named 'exists A b'",
        ),
        ("exists: {}\n", 1, "checks", "expected a list of checks"),
    ],
)
def test_bad_checks_name_file_line_and_field(text: str, line: int | None, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert err.value.file == "plan.yaml"
    assert err.value.line == line
    assert err.value.field == field
    assert message in str(err.value)


def test_plain_data_errors_name_the_field_without_a_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_checks([{"count": {"kind": "A"}}], file="p.yaml", path="spec.checks")
    assert (err.value.line, err.value.field) == (None, "spec.checks[0].count")
    assert str(err.value) == "p.yaml: spec.checks[0].count: give min or equals"


def test_defaults_names_timeouts_and_where() -> None:
    specs = parse(
        "- exists: {kind: Deployment, name: web, namespace: shop}\n"
        "- count: {kind: ConfigMap, namespace: shop, equals: 3, selector: app=x}\n"
        "  timeout: 2m\n"
        "- command: {run: 'kubectl get pods -A | grep $KUBECONFIG'}\n"
        "  name: custom\n"
        "- command: {run: [ls, -l]}\n"
        "- httpProbe: {namespace: shop, service: web, port: http, path: healthz}\n"
    )
    assert [s.name for s in specs] == [
        "exists Deployment shop/web",
        "count ConfigMap in shop (app=x) == 3",
        "custom",
        "command ls -l",
        "httpProbe shop/web:http/healthz",
    ]
    assert [s.timeout_s for s in specs] == [60.0, 120.0, 60.0, 60.0, 60.0]
    assert [s.where for s in specs] == [f"plan.yaml:{n}" for n in (1, 2, 4, 6, 7)]
    assert specs[2].shell
    assert specs[2].argv == ("kubectl get pods -A | grep $KUBECONFIG",)
    assert not specs[3].shell
    assert specs[4].expect_status == 200


# --- running -------------------------------------------------------------------------------------


def ctx(kube: FakeKube, clock: Clock | None = None, **kw: Any) -> CheckContext:
    clock = clock or Clock()
    return CheckContext(kube=kube, resolve=RESOLVE, clock=clock, sleep=clock.sleep, **kw)


def deployment(ready: int, want: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 1},
        "spec": {"replicas": want},
        "status": {
            "observedGeneration": 1,
            "replicas": want,
            "updatedReplicas": want,
            "availableReplicas": ready,
            "readyReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if ready == want else "False"}],
        },
    }


def test_exists_maps_the_namespace_and_polls_until_its_timeout() -> None:
    kube, clock = FakeKube(), Clock()
    spec = one("- exists: {kind: Deployment, name: web, namespace: shop}\n  timeout: 5s\n")
    result = run_check(spec, ctx(kube, clock, namespace_map={"shop": "drill-1-shop"}))
    assert result.status is Status.FAIL
    assert result.message == "deployments.apps/drill-1-shop/web does not exist (still so after 5s)"
    assert result.attempts == 6  # t = 0, 1, ..., 5
    assert result.duration_s == 5.0
    assert kube.calls[0][1] == "/apis/apps/v1/namespaces/drill-1-shop/deployments/web"
    kube.put("/apis/apps/v1/namespaces/drill-1-shop/deployments/web", deployment(2))
    again = run_check(spec, ctx(kube, clock, namespace_map={"shop": "drill-1-shop"}))
    assert (again.status, again.attempts) == (Status.PASS, 1)


def test_exists_of_a_cluster_scoped_kind_and_an_unknown_kind() -> None:
    kube = FakeKube()
    kube.put("/api/v1/namespaces/shop", {"metadata": {"name": "shop"}})
    assert run_check(one("- exists: {kind: Namespace, name: shop}\n"), ctx(kube)).status is Status.PASS
    unknown = run_check(one("- exists: {kind: Gadget, name: g}\n"), ctx(kube))
    assert unknown.status is Status.FAIL
    assert unknown.attempts == 1  # a configuration problem is final
    assert "serves no kind 'Gadget'" in unknown.message


def test_count_min_equals_and_selector() -> None:
    kube = FakeKube()
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        obj = {"metadata": {"name": name, "labels": {"app": app}}}
        kube.put(f"/api/v1/namespaces/shop/configmaps/{name}", obj)
    c = ctx(kube)
    assert run_check(one("- count: {kind: ConfigMap, namespace: shop, min: 3}\n"), c).status is Status.PASS
    r = run_check(one("- count: {kind: ConfigMap, namespace: shop, equals: 2}\n  timeout: 1s\n"), c)
    assert r.status is Status.FAIL
    assert r.message.startswith("3 configmaps in shop (want exactly 2)")
    sel = run_check(one("- count: {kind: ConfigMap, namespace: shop, equals: 2, selector: app=x}\n"), c)
    assert sel.status is Status.PASS
    assert kube.calls[-1][2] == {"labelSelector": "app=x"}


def test_available_waits_for_the_deployment_and_reports_what_it_saw() -> None:
    kube, clock = FakeKube(), Clock()
    path = "/apis/apps/v1/namespaces/shop/deployments/web"
    kube.put(path, deployment(1))
    spec = one("- available: {kind: Deployment, name: web, namespace: shop}\n  timeout: 3s\n")
    failed = run_check(spec, ctx(kube, clock))
    assert failed.status is Status.FAIL
    assert "not available" in failed.message
    kube.put(path, deployment(2))
    assert run_check(spec, ctx(kube, clock)).status is Status.PASS


CM_PATH = "resources/core/v1/configmaps/shop/settings.json"
SECRET_PATH = "resources/core/v1/secrets/shop/db.json"


def stored(data: dict[str, str], **extra: Any) -> bytes:
    return json.dumps({"metadata": {"name": "x"}, "data": data, **extra}).encode()


def test_configmap_equals_names_the_keys_that_differ() -> None:
    kube = FakeKube()
    files = FakeFiles({CM_PATH: stored({"mode": "blue", "size": "3", "gone": "1"})})
    live = "/api/v1/namespaces/drill-shop/configmaps/settings"
    kube.put(live, {"data": {"mode": "red", "size": "3", "new": "1"}})
    spec = one("- configmapEquals: {name: settings, namespace: shop}\n  timeout: 1s\n")
    c = ctx(kube, snapshot=files, namespace_map={"shop": "drill-shop"})
    r = run_check(spec, c)
    assert r.status is Status.FAIL
    assert "missing keys ['gone']" in r.message
    assert "extra keys ['new']" in r.message
    assert "different values for keys ['mode']" in r.message
    kube.put(live, {"data": {"mode": "blue", "size": "3", "gone": "1"}})
    ok = run_check(spec, c)
    assert (ok.status, ok.message) == (
        Status.PASS,
        "configmaps/drill-shop/settings equals the snapshot's (3 keys)",
    )


def test_configmap_missing_from_the_snapshot_fails_at_once() -> None:
    r = run_check(
        one("- configmapEquals: {name: settings, namespace: shop}\n"), ctx(FakeKube(), snapshot=FakeFiles({}))
    )
    assert r.status is Status.FAIL
    assert r.attempts == 1
    assert r.message == f"the snapshot has no {CM_PATH}"


def test_secret_equals_never_shows_a_value() -> None:
    kube = FakeKube()
    enc = base64.b64encode(SECRET.encode()).decode()
    other = base64.b64encode(b"other-value").decode()
    files = FakeFiles({SECRET_PATH: stored({"password": enc, "user": enc}, type="Opaque")})
    kube.put(
        "/api/v1/namespaces/shop/secrets/db",
        {"type": "kubernetes.io/basic-auth", "data": {"password": other}},
    )
    r = run_check(
        one("- secretEquals: {name: db, namespace: shop}\n  timeout: 1s\n"), ctx(kube, snapshot=files)
    )
    assert r.status is Status.FAIL
    assert "missing keys ['user']" in r.message
    assert "different values for keys ['password']" in r.message
    assert "type 'kubernetes.io/basic-auth' instead of 'Opaque'" in r.message
    for text in (r.message, json.dumps(r.to_json())):
        assert SECRET not in text
        assert enc not in text
        assert other not in text
        assert "other-value" not in text


def test_volume_checksum_skips_without_access_and_compares_sha256() -> None:
    files = FakeFiles({"volumes/shop/data/www/index.html": b"<h1>hi</h1>"})
    spec = one("- volumeChecksum: {namespace: shop, pvc: data, path: /www/index.html}\n  timeout: 1s\n")
    skipped = run_check(spec, ctx(FakeKube(), snapshot=files))
    assert skipped.status is Status.SKIP
    assert "no access to restored volume data" in skipped.message
    good = FakeVolumes({("drill-shop", "data", "www/index.html"): b"<h1>hi</h1>"})
    c = ctx(FakeKube(), snapshot=files, volumes=good, namespace_map={"shop": "drill-shop"})
    assert run_check(spec, c).status is Status.PASS
    bad = FakeVolumes({("shop", "data", "www/index.html"): b"<h1>bye</h1>"})
    r = run_check(spec, ctx(FakeKube(), snapshot=files, volumes=bad))
    assert r.status is Status.FAIL
    assert "sha256" in r.message
    missing = run_check(
        one("- volumeChecksum: {namespace: shop, pvc: data, path: nope}\n"), ctx(FakeKube(), snapshot=files)
    )
    assert (missing.status, missing.message) == (Status.FAIL, "the snapshot has no volumes/shop/data/nope")


def test_http_probe_goes_through_the_service_proxy_or_is_skipped() -> None:
    kube = FakeKube()
    url = "/api/v1/namespaces/shop/services/web:80/proxy/healthz"
    spec = one(
        "- httpProbe: {namespace: shop, service: web, port: 80, path: /healthz, contains: ok}\n"
        "  timeout: 2s\n"
    )
    assert run_check(spec, ctx(kube, service_proxy=False, service_proxy_reason="kwok")).message == "kwok"
    kube.answers[url] = (503, b"no endpoints available for service")
    r = run_check(spec, ctx(kube))
    assert r.status is Status.FAIL
    assert "status 503, want 200" in r.message
    kube.answers[url] = (200, b"all ok")
    assert run_check(spec, ctx(kube)).status is Status.PASS
    kube.answers[url] = (200, b"starting")
    assert "does not contain 'ok'" in run_check(spec, ctx(kube)).message
    https = one("- httpProbe: {namespace: shop, service: web, port: 443, scheme: https}\n")
    kube.answers["/api/v1/namespaces/shop/services/https:web:443/proxy/"] = (200, b"")
    assert run_check(https, ctx(kube)).status is Status.PASS


def test_command_runs_with_the_scratch_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    c = ctx(FakeKube(), kubeconfig=kubeconfig)
    ok = run_check(
        one(f"- command: {{run: [{sys.executable}, -c, 'import os; print(os.environ[\"KUBECONFIG\"])']}}\n"),
        c,
    )
    assert ok.status is Status.PASS
    assert str(kubeconfig) in ok.message
    failed = run_check(one("- command: {run: 'echo broken >&2; exit 3'}\n"), c)
    assert failed.status is Status.FAIL
    assert failed.message == "exit code 3: broken"
    missing = run_check(one("- command: {run: [/nonexistent/tool]}\n"), c)
    assert missing.status is Status.FAIL
    assert "cannot run '/nonexistent/tool'" in missing.message


def test_command_timeout_is_a_failure() -> None:
    r = run_check(one("- command: {run: [sleep, '30']}\n  timeout: 1s\n"), ctx(FakeKube()))
    assert r.status is Status.FAIL
    assert r.message.startswith("timed out after 1s")


def test_the_sample_drill_plan_is_valid() -> None:
    from drkit.config.restoreplan import load_restore_plan
    from drkit.drill.service import plan_checks

    root = Path(__file__).resolve().parents[3]
    config = load_restore_plan(root / "restore-plans" / "drill-sample.yaml")
    assert config.target.scratch
    specs = plan_checks(config)
    assert [s.type for s in specs] == [
        "exists", "exists", "count", "available", "configmapEquals", "secretEquals", "volumeChecksum",
        "httpProbe", "command",
    ]  # fmt: skip
    assert all(s.where.startswith(f"{root}/restore-plans/drill-sample.yaml:") for s in specs)


def test_status_equals_compares_the_restored_status_with_the_snapshot() -> None:
    """Issue 18.2: a drill must fail when a custom resource comes back without its status."""
    kube = FakeKube()
    stored_path = "resources/example.com/v1/widgets/shop/w1.json"
    files = FakeFiles({stored_path: json.dumps({"status": {"phase": "Ready", "size": 3}}).encode()})
    live = "/apis/example.com/v1/namespaces/drill-shop/widgets/w1"
    kube.put(live, {"metadata": {"name": "w1"}, "spec": {}})
    spec = one("- statusEquals: {kind: Widget, name: w1, namespace: shop}\n  timeout: 1s\n")
    assert spec.name == "statusEquals Widget shop/w1"
    c = ctx(kube, snapshot=files, namespace_map={"shop": "drill-shop"})
    lost = run_check(spec, c)
    assert lost.status is Status.FAIL
    assert "differs from the snapshot's: missing keys ['phase', 'size']" in lost.message
    kube.put(live, {"metadata": {"name": "w1"}, "status": {"phase": "Ready", "size": 3}})
    ok = run_check(spec, c)
    assert (ok.status, ok.message) == (
        Status.PASS,
        "status of widgets.example.com/drill-shop/w1 equals the snapshot's (2 fields)",
    )


def test_one_key_is_singular() -> None:
    kube = FakeKube()
    files = FakeFiles({CM_PATH: stored({"mode": "blue"})})
    kube.put("/api/v1/namespaces/shop/configmaps/settings", {"data": {"mode": "blue"}})
    ok = run_check(one("- configmapEquals: {name: settings, namespace: shop}\n"), ctx(kube, snapshot=files))
    assert ok.message == "configmaps/shop/settings equals the snapshot's (1 key)"
