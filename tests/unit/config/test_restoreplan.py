"""Restore plan files: defaults, every field, the examples, and a table of bad files (file, line, field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drkit.config.restoreplan import (
    SCHEMA,
    ExistingPolicy,
    RestoreParts,
    ScopeSettings,
    SnapshotSelector,
    TargetSettings,
    WaitSettings,
    load_restore_plan,
)
from drkit.errors import ConfigError, ExitCode

EXAMPLES = Path(__file__).resolve().parents[3] / "restore-plans"

HEADER = "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata:\n  name: p\nspec:\n"


def write(tmp_path: Path, spec: str, *, header: str = HEADER) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(header + spec, encoding="utf-8")
    return path


def test_minimal_plan_gets_the_defaults(tmp_path: Path) -> None:
    plan = load_restore_plan(write(tmp_path, "  snapshot: latest\n"))
    assert plan.name == "p"
    assert plan.repository is None
    assert plan.snapshot == SnapshotSelector()
    assert plan.target == TargetSettings()
    assert plan.scope == ScopeSettings()
    assert plan.namespace_mapping == {}
    assert plan.modifiers == ()
    assert plan.existing_policy is ExistingPolicy.SKIP
    assert plan.restore == RestoreParts(resources=True, etcd=False, volumes=False)
    assert plan.waits == WaitSettings()
    assert plan.include_status is False
    assert plan.keep_last_applied is False
    assert plan.checks == ()


def test_every_field(tmp_path: Path) -> None:
    spec = """\
  repository:
    url: repo
    passwordFile: pw
  snapshot: {schedule: nightly, latestBefore: 2026-11-26T08:00:00+01:00}
  target: {kubeconfig: kc.yaml, context: staging}
  scope:
    includeNamespaces: [shop, "shop-*"]
    excludeNamespaces: [shop-old]
    includeResources: [deployments.apps, configmaps]
    excludeResources: ["*.example.com"]
    selector: "app in (shop, web),!legacy"
    includeClusterResources: false
  namespaceMapping: {shop: shop-dr}
  modifiers:
    - kinds: Deployment
      names: [web, "api-*"]
      namespaces: shop-dr
      mergePatch: {spec: {replicas: 1}}
    - jsonPatch:
        - {op: add, path: /metadata/labels/restored, value: "yes"}
        - {op: move, from: /a, path: /b}
        - {op: remove, path: /c}
  existingPolicy: Update
  restore: {resources: true, etcd: true, volumes: false}
  waits:
    enabled: false
    timeouts: {Deployment: 2m, default: 90}
  includeStatus: true
  keepLastAppliedConfiguration: true
  checks:
    - exists: {kind: Deployment, name: web}
"""
    plan = load_restore_plan(write(tmp_path, spec))
    assert plan.repository is not None
    assert plan.repository.url == str((tmp_path / "repo").absolute())
    assert plan.repository.password_file == tmp_path / "pw"
    assert plan.snapshot == SnapshotSelector(schedule="nightly", before=datetime(2026, 11, 26, 7, tzinfo=UTC))
    assert plan.target == TargetSettings(kubeconfig=tmp_path / "kc.yaml", context="staging")
    assert plan.scope.include_namespaces == ("shop", "shop-*")
    assert plan.scope.exclude_resources == ("*.example.com",)
    assert plan.scope.selector is not None
    assert plan.scope.selector.matches({"app": "web"})
    assert not plan.scope.selector.matches({"app": "web", "legacy": "1"})
    assert plan.scope.include_cluster_resources is False
    assert plan.namespace_mapping == {"shop": "shop-dr"}
    first, second = plan.modifiers
    assert (first.index, first.line, first.kinds, first.names, first.namespaces) == (
        0, 20, ("Deployment",), ("web", "api-*"), ("shop-dr",),
    )  # fmt: skip
    assert first.merge_patch == {"spec": {"replicas": 1}}
    assert second.json_patch is not None
    assert [op["op"] for op in second.json_patch] == ["add", "move", "remove"]
    assert plan.existing_policy is ExistingPolicy.UPDATE
    assert plan.restore.etcd is True
    assert plan.waits.enabled is False
    assert plan.waits.seconds() == {"Deployment": 120.0, "default": 90.0}
    assert plan.include_status is True
    assert plan.keep_last_applied is True
    assert plan.checks == ({"exists": {"kind": "Deployment", "name": "web"}},)
    error = plan.error("spec.snapshot", "no snapshot")
    assert str(error) == f"{tmp_path / 'plan.yaml'}:9: spec.snapshot: no snapshot"


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        ("latest", SnapshotSelector()),
        ("A1B2C3D4", SnapshotSelector(id="a1b2c3d4")),
        ("{id: abcd}", SnapshotSelector(id="abcd")),
        (
            '{latestBefore: "2026-11-26T08:00:00Z"}',
            SnapshotSelector(before=datetime(2026, 11, 26, 8, tzinfo=UTC)),
        ),
        ("{schedule: weekly}", SnapshotSelector(schedule="weekly")),
        ("~", SnapshotSelector()),
    ],
)
def test_snapshot_forms(tmp_path: Path, snapshot: str, expected: SnapshotSelector) -> None:
    assert load_restore_plan(write(tmp_path, f"  snapshot: {snapshot}\n")).snapshot == expected


def test_the_examples_load() -> None:
    files = sorted(EXAMPLES.glob("example-*.yaml"))
    assert len(files) >= 2
    plans = {p.name: load_restore_plan(p) for p in files}
    staging = plans["example-shop-to-staging.yaml"]
    assert staging.namespace_mapping["shop"] == "shop-staging"
    assert staging.waits.timeouts["StatefulSet"] == timedelta(minutes=10)
    drill = plans["example-drill.yaml"]
    assert drill.target.scratch
    assert len(drill.checks) == 2


BAD = [
    (
        "unknown spec field",
        "  namespaceMaping: {a: b}\n",
        6,
        "spec.namespaceMaping",
        "unknown field 'namespaceMaping'; did you mean 'namespaceMapping'?",
    ),
    ("snake case", "  existing_policy: skip\n", 6, "spec.existing_policy", "did you mean 'existingPolicy'?"),
    (
        "unknown scope field",
        "  scope:\n    includeNamespace: [a]\n",
        7,
        "spec.scope.includeNamespace",
        "did you mean 'includeNamespaces'?",
    ),
    (
        "bad policy",
        "  existingPolicy: overwrite\n",
        6,
        "spec.existingPolicy",
        "expected skip, update or fail",
    ),
    ("bad finishedJobs", "  finishedJobs: rerun\n", 6, "spec.finishedJobs", "expected skip or suspend"),
    (
        "bad snapshot id",
        "  snapshot: yesterday\n",
        6,
        "spec.snapshot",
        "'yesterday' is not a snapshot reference",
    ),
    ("short snapshot id", "  snapshot: abc\n", 6, "spec.snapshot", "not a snapshot reference"),
    ("snapshot list", "  snapshot: [latest]\n", 6, "spec.snapshot", "expected latest, an id or a mapping"),
    ("id with schedule", "  snapshot: {id: abcd, schedule: x}\n", 6, "spec.snapshot", "give id alone"),
    (
        "naive time",
        "  snapshot:\n    latestBefore: 2026-11-26T08:00:00\n",
        7,
        "spec.snapshot.latestBefore",
        "no time zone",
    ),
    (
        "date only",
        "  snapshot:\n    latestBefore: 2026-11-26\n",
        7,
        "spec.snapshot.latestBefore",
        "a date is not a time",
    ),
    ("bad time", '  snapshot:\n    latestBefore: "soon"\n', 7, "spec.snapshot.latestBefore", "RFC 3339"),
    (
        "bad schedule name",
        "  snapshot: {schedule: Nightly_1}\n",
        6,
        "spec.snapshot.schedule",
        "not a valid schedule name",
    ),
    (
        "scratch and kubeconfig",
        "  target: {scratch: true, kubeconfig: k}\n",
        6,
        "spec.target",
        "exclude each other",
    ),
    ("bad selector", '  scope:\n    selector: "app in (a"\n', 7, "spec.scope.selector", "unbalanced"),
    (
        "resource with slash",
        "  scope:\n    includeResources: [apps/deployments]\n",
        7,
        "spec.scope.includeResources[0]",
        "has no '/'",
    ),
    ("mapping not a mapping", "  namespaceMapping: [a]\n", 6, "spec.namespaceMapping", "expected a mapping"),
    (
        "bad target namespace",
        "  namespaceMapping: {shop: Shop_DR}\n",
        6,
        "spec.namespaceMapping.shop",
        "not a valid namespace name",
    ),
    (
        "two onto one",
        "  namespaceMapping:\n    a: c\n    b: c\n",
        8,
        "spec.namespaceMapping.b",
        "both map to 'c'",
    ),
    ("modifiers not a list", "  modifiers: {kinds: [x]}\n", 6, "spec.modifiers", "expected a list"),
    (
        "no patch",
        "  modifiers:\n    - kinds: [Deployment]\n",
        7,
        "spec.modifiers[0]",
        "exactly one of jsonPatch",
    ),
    (
        "two patches",
        "  modifiers:\n    - mergePatch: {a: 1}\n      jsonPatch: [{op: remove, path: /a}]\n",
        7,
        "spec.modifiers[0]",
        "exactly one of",
    ),
    (
        "unknown modifier field",
        "  modifiers:\n    - kind: [Deployment]\n      mergePatch: {a: 1}\n",
        7,
        "spec.modifiers[0].kind",
        "did you mean 'kinds'?",
    ),
    (
        "bad op",
        "  modifiers:\n    - jsonPatch:\n        - {op: delete, path: /a}\n",
        8,
        "spec.modifiers[0].jsonPatch[0].op",
        "unknown operation 'delete'",
    ),
    (
        "bad pointer",
        "  modifiers:\n    - jsonPatch:\n        - {op: remove, path: a/b}\n",
        8,
        "spec.modifiers[0].jsonPatch[0].path",
        "starts with '/'",
    ),
    (
        "add without value",
        "  modifiers:\n    - jsonPatch:\n        - {op: add, path: /a}\n",
        8,
        "spec.modifiers[0].jsonPatch[0].value",
        "needs a value",
    ),
    (
        "move without from",
        "  modifiers:\n    - jsonPatch:\n        - {op: move, path: /a}\n",
        8,
        "spec.modifiers[0].jsonPatch[0].from",
        "missing required field",
    ),
    (
        "empty json patch",
        "  modifiers:\n    - jsonPatch: []\n",
        7,
        "spec.modifiers[0].jsonPatch",
        "non-empty list",
    ),
    (
        "merge patch not a mapping",
        "  modifiers:\n    - mergePatch: [1]\n",
        7,
        "spec.modifiers[0].mergePatch",
        "expected a mapping",
    ),
    (
        "date in a patch",
        "  modifiers:\n    - mergePatch: {a: 2026-01-01}\n",
        7,
        "spec.modifiers[0].mergePatch",
        "not a JSON value",
    ),
    ("nothing to restore", "  restore: {resources: false}\n", 6, "spec.restore", "nothing to restore"),
    (
        "restore not boolean",
        "  restore: {etcd: yes please}\n",
        6,
        "spec.restore.etcd",
        "expected true or false",
    ),
    (
        "timeout of no kind",
        "  waits:\n    timeouts: {deployment: 1m}\n",
        7,
        "spec.waits.timeouts.deployment",
        "is not a kind",
    ),
    (
        "bad timeout",
        "  waits:\n    timeouts: {Deployment: 5 minutes}\n",
        7,
        "spec.waits.timeouts.Deployment",
        "duration",
    ),
    (
        "zero timeout",
        "  waits:\n    timeouts: {Deployment: 0s}\n",
        7,
        "spec.waits.timeouts.Deployment",
        "longer than 0",
    ),
    ("checks not a list", "  checks: {a: 1}\n", 6, "spec.checks", "expected a list of checks"),
    ("check not a mapping", "  checks:\n    - exists\n", 7, "spec.checks[0]", "expected a mapping"),
    ("include status string", "  includeStatus: 'yes'\n", 6, "spec.includeStatus", "expected true or false"),
    ("env reference", "  target: {context: $CTX}\n", 6, "spec.target.context", "environment-variable"),
    ("bad repository url", "  repository: {url: 's3://'}\n", 6, "spec.repository.url", ""),
]


@pytest.mark.parametrize(
    ("case", "spec", "expected"), [(b[0], b[1], b[2:]) for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_plans_name_file_line_and_field(
    tmp_path: Path, case: str, spec: str, expected: tuple[Any, ...]
) -> None:
    line, field, message = expected
    path = write(tmp_path, spec)
    with pytest.raises(ConfigError) as info:
        load_restore_plan(path)
    error = info.value
    assert error.exit_code == ExitCode.USAGE
    assert (error.file, error.line, error.field) == (str(path), line, field), (case, str(error))
    assert message in str(error), (case, str(error))
    assert str(error).startswith(f"{path}:{line}: {field}: ")


@pytest.mark.parametrize(
    ("header", "line", "field", "message"),
    [
        (HEADER.replace("RestorePlan", "Schedule"), 2, "kind", "expected 'RestorePlan'"),
        (HEADER.replace("v1", "v2"), 1, "apiVersion", "expected 'drkit.io/v1'"),
        (HEADER.replace("name: p", "name: Bad_Name"), 4, "metadata.name", "not a valid plan name"),
        ("apiVersion: drkit.io/v1\nkind: RestorePlan\nspec:\n", 1, "metadata", "missing required field"),
        (
            "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata: {name: p}\nsnapshot: latest\nspec:\n",
            4,
            "snapshot",
            "belongs under spec",
        ),
    ],
)
def test_bad_headers(tmp_path: Path, header: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path, "  snapshot: latest\n", header=header)
    with pytest.raises(ConfigError) as info:
        load_restore_plan(path)
    assert (info.value.line, info.value.field) == (line, field), str(info.value)
    assert message in str(info.value)


def test_schema_lists_every_mapping() -> None:
    assert SCHEMA["spec"][0] == "repository"
    assert "namespaceMapping" in SCHEMA["spec"]
    assert set(SCHEMA["spec.modifiers[]"]) == {"kinds", "names", "namespaces", "jsonPatch", "mergePatch"}


# -- spec.volumes: how volume data is restored (restore.volumes: true) ----------------------------


def test_volumes_section(tmp_path: Path) -> None:
    from drkit.config.restoreplan import VolumeRestoreSettings

    spec = """\
  restore: {volumes: true}
  volumes:
    mover: " Job "
    pathMap: ['shop/*=/srv/restore/{namespace}/{pvc}', '*=local-path']
    moverSecret: drkit-repo-read
    image: registry.example/drkit:1.2
    timeout: 2h
"""
    plan = load_restore_plan(write(tmp_path, spec))
    assert plan.restore.volumes
    assert plan.volumes == VolumeRestoreSettings(
        mover="job",
        path_map=("shop/*=/srv/restore/{namespace}/{pvc}", "*=local-path"),
        secret="drkit-repo-read",
        image="registry.example/drkit:1.2",
        timeout=timedelta(hours=2),
    )
    assert plan.lines["spec.volumes.moverSecret"] == 10
    assert load_restore_plan(write(tmp_path, "  volumes: {pathMap: []}\n")).volumes == VolumeRestoreSettings()
    assert load_restore_plan(write(tmp_path, "  snapshot: latest\n")).volumes == VolumeRestoreSettings()
    assert load_restore_plan(write(tmp_path, "  volumes: {timeout: 90}\n")).volumes.timeout == timedelta(
        seconds=90
    )


@pytest.mark.parametrize(
    ("spec", "line", "field", "message"),
    [
        ("  volumes:\n    mover: rsync\n", 8, "spec.volumes.mover", "expected local or job, got 'rsync'"),
        ("  volumes:\n    timeout: 0s\n", 8, "spec.volumes.timeout", "a timeout must be longer than 0"),
        ("  volumes:\n    pathMap: /srv\n", 8, "spec.volumes.pathMap", ""),
        ("  volumes:\n    moverSecrets: x\n", 8, "spec.volumes.moverSecrets", "did you mean 'moverSecret'?"),
        ("  volumes: [local]\n", 7, "spec.volumes", ""),
    ],
)
def test_bad_volumes_sections_name_file_line_and_field(
    tmp_path: Path, spec: str, line: int, field: str, message: str
) -> None:
    path = write(tmp_path, "  restore: {volumes: true}\n" + spec)  # spec.volumes from line 7
    with pytest.raises(ConfigError) as info:
        load_restore_plan(path)
    error = info.value
    assert error.exit_code == ExitCode.USAGE
    assert (error.file, error.line, error.field) == (str(path), line, field), str(error)
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}: {field}: ")


def test_schema_lists_the_volumes_section() -> None:
    assert set(SCHEMA["spec.volumes"]) == {
        "mover", "pathMap", "moverSecret", "image", "timeout", "runAsUser", "parallel",
    }  # fmt: skip
    assert "volumes" in SCHEMA["spec"]


def test_spec_volumes_run_as_user_must_not_be_root(tmp_path: Path) -> None:
    ok = load_restore_plan(write(tmp_path, "  volumes: {mover: job, runAsUser: 1000}\n"))
    assert ok.volumes.run_as_user == 1000
    for bad in ("0", "-5", "app", "true"):
        with pytest.raises(ConfigError) as err:
            load_restore_plan(write(tmp_path, f"  volumes: {{runAsUser: {bad}}}\n"))
        assert err.value.field == "spec.volumes.runAsUser"
        assert "expected a user id above 0 (not root)" in err.value.message


@pytest.mark.parametrize(
    ("value", "include", "auto"),
    [("true", True, False), ("'false'", False, False), ("'True'", True, False), ("Auto", True, True)],
)
def test_include_cluster_resources_takes_what_the_schema_allows(
    tmp_path: Path, value: str, include: bool, auto: bool
) -> None:
    """The words the published schema lists (auto, "true", "false", in any case) load, as they do in
    a schedule; the plan loader used to refuse a quoted "true" the model had accepted."""
    plan = load_restore_plan(write(tmp_path, f"  scope: {{includeClusterResources: {value}}}\n"))
    assert (plan.scope.include_cluster_resources, plan.scope.cluster_resources_auto) == (include, auto)
