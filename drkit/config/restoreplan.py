"""Restore plans: what ``drkit restore plan|run`` restores, from where, into what (``restore-plans/*.yaml``).

A plan file is one versioned YAML document (documented in ``docs/restore-plans.md``)::

    apiVersion: drkit.io/v1
    kind: RestorePlan
    metadata:
      name: shop-to-staging
    spec:
      repository: {url: s3://backups/prod}
      snapshot: latest                     # or an id, or {latestBefore: <RFC 3339>, schedule: <name>}
      target: {kubeconfig: staging.kubeconfig}
      scope: {includeNamespaces: [shop]}
      namespaceMapping: {shop: shop-staging}
      existingPolicy: skip

:func:`load_restore_plan` turns a file into a frozen :class:`RestorePlanConfig`; every problem is a
:class:`~drkit.errors.ConfigError` naming the file, the line and the dotted field. The repository
section is the schedule's (same fields, same checks). Label selectors are parsed here (so that a bad
one is reported at its line) and matched by :meth:`LabelSelector.matches`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import TypeAdapter

from drkit.config import plandoc
from drkit.config.model import keys_by_path
from drkit.config.plandoc import RestorePlanDocument
from drkit.config.schedule import RepositorySettings
from drkit.config.translate import validate_node
from drkit.config.yamlsource import Node, Section, document_sections, load_yaml_file
from drkit.errors import ConfigError

API_VERSION = "drkit.io/v1"
KIND = "RestorePlan"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_LABEL_MAX = 63
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{4,64}")


class ExistingPolicy(StrEnum):
    """What to do with an object that already exists in the target."""

    SKIP = "skip"  # leave it as it is
    UPDATE = "update"  # server-side apply over it (forced: drkit takes the fields it sets)
    FAIL = "fail"  # do not touch it and report a failure


# -- snapshot selectors ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotSelector:
    """Which snapshot to restore: an id (or unique prefix), else the newest matching snapshot, newest
    before ``before`` and/or made by schedule ``schedule`` (tag ``<name>`` or ``schedule=<name>``)."""

    id: str | None = None
    before: datetime | None = None  # aware
    schedule: str | None = None

    def describe(self) -> str:
        if self.id is not None:
            return self.id
        parts = ["latest"]
        if self.schedule is not None:
            parts.append(f"of schedule {self.schedule}")
        if self.before is not None:
            parts.append(f"before {self.before.isoformat()}")
        return " ".join(parts)

    @classmethod
    def parse(cls, text: str) -> SnapshotSelector:
        """The command-line form: ``latest``, an id, ``latest-before:<RFC 3339>``, ``schedule:<name>``.
        ``ValueError`` with the reason for anything else."""
        value = text.strip()
        if value == "latest":
            return cls()
        kind, sep, rest = value.partition(":")
        if sep and kind == "latest-before":
            return cls(before=parse_time(rest.strip()))
        if sep and kind == "schedule":
            return cls(schedule=check_name(rest.strip(), "schedule name"))
        if _SNAPSHOT_ID.fullmatch(value.lower()):
            return cls(id=value.lower())
        raise ValueError(
            f"{text!r} is not a snapshot reference: give latest, an id (4 or more hex digits), "
            "latest-before:<RFC 3339 time> or schedule:<name>"
        )


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with a zone (``2026-11-26T08:00:00Z``, ``...+01:00``) as an aware datetime."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-11-26T08:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +01:00")
    return moment.astimezone(UTC)


def check_name(value: str, what: str) -> str:
    if len(value) > _DNS_LABEL_MAX or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid {what}: lower-case letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {_DNS_LABEL_MAX} characters"
        )
    return value


# -- label selectors ------------------------------------------------------------------------------

_KEY = r"(?:[a-z0-9A-Z][-a-z0-9A-Z_.]*/)?[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?"
_SET_REQ = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")
_EQ_REQ = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_EXISTS_REQ = re.compile(rf"\s*(!?)\s*({_KEY})\s*")
_VALUE_ONLY = re.compile(_VALUE)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "exists", "!exists", "=", "!=", "in", "notin"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        result: bool
        if self.operator == "exists":
            result = present
        elif self.operator == "!exists":
            result = not present
        elif self.operator in ("=", "in"):
            result = present and value in self.values
        else:  # "!=", "notin": true when the label is absent, as in Kubernetes
            result = not present or value not in self.values
        return result


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector (equality- and set-based): ``app=shop,tier!=db,env in (a,b),!legacy``."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """``ValueError`` naming the requirement that is not understood."""
        return cls(text, tuple(_requirement(part) for part in _split_requirements(text)))


def _split_requirements(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in label selector {text!r}")
    if any(not p.strip() for p in parts):
        raise ValueError(f"empty requirement in label selector {text!r}")
    return parts


def _requirement(part: str) -> Requirement:
    if m := _SET_REQ.fullmatch(part):
        values = tuple(v.strip() for v in m.group(3).split(","))
        if not values or any(not _VALUE_ONLY.fullmatch(v) or not v for v in values):
            raise ValueError(f"bad value list in label selector requirement {part.strip()!r}")
        return Requirement(m.group(1), m.group(2), values)
    if m := _EQ_REQ.fullmatch(part):
        operator = "=" if m.group(2) == "==" else m.group(2)
        return Requirement(m.group(1), operator, (m.group(3),))
    if m := _EXISTS_REQ.fullmatch(part):
        return Requirement(m.group(2), "!exists" if m.group(1) else "exists")
    raise ValueError(f"label selector requirement {part.strip()!r} is not understood")


# -- the plan -------------------------------------------------------------------------------------


class FinishedJobs(StrEnum):
    """``spec.finishedJobs``: what to do with a Job that completed or failed in the source."""

    SKIP = "skip"  # not restored (created again, it would run again)
    SUSPEND = "suspend"  # restored with spec.suspend: true, a record that does not run


@dataclass(frozen=True)
class TargetSettings:
    kubeconfig: Path | None = None  # None: $KUBECONFIG, ~/.kube/config or in-cluster
    context: str | None = None
    scratch: bool = False  # a scratch cluster a drill creates; `restore run` needs --kubeconfig then


@dataclass(frozen=True)
class ScopeSettings:
    include_namespaces: tuple[str, ...] = ()  # globs over the snapshot's namespaces; () = all
    exclude_namespaces: tuple[str, ...] = ()
    include_resources: tuple[str, ...] = ()  # plural, plural.group or globs; () = all
    exclude_resources: tuple[str, ...] = ()
    selector: LabelSelector | None = None  # namespaced objects only
    include_cluster_resources: bool = True  # cluster-scoped objects other than Namespaces
    namespace_selector: LabelSelector | None = None  # by the labels of the snapshot's Namespace objects
    cluster_resources_auto: bool = False  # includeClusterResources: auto (those the restored objects need)


@dataclass(frozen=True)
class ModifierSettings:
    """A JSON patch (RFC 6902) or a JSON merge patch (RFC 7386) for the objects it matches. Globs;
    an empty tuple matches everything. ``namespaces`` are target namespaces (after mapping)."""

    index: int
    line: int
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    json_patch: tuple[Mapping[str, object], ...] | None = None
    merge_patch: Mapping[str, object] | None = None


@dataclass(frozen=True)
class RestoreParts:
    resources: bool = True
    etcd: bool = False
    volumes: bool = False


@dataclass(frozen=True)
class VolumeRestoreSettings:
    """``spec.volumes``: how volume data is restored (``restore.volumes: true``). ``None``: the
    command line's choice. ``path_map`` holds ``--volume-path-map`` rules, checked by the restore."""

    mover: str | None = None  # local | job
    path_map: tuple[str, ...] = ()
    secret: str | None = None
    image: str | None = None
    timeout: timedelta | None = None
    run_as_user: int | None = None  # job mode: restore as this non-root uid (not as root)


@dataclass(frozen=True)
class WaitSettings:
    enabled: bool = True
    timeouts: Mapping[str, timedelta] = field(default_factory=dict)  # by kind: {"Deployment": 120s}

    def seconds(self) -> dict[str, float]:
        return {kind: t.total_seconds() for kind, t in sorted(self.timeouts.items())}


@dataclass(frozen=True)
class RestorePlanConfig:
    name: str
    source: Path
    repository: RepositorySettings | None
    snapshot: SnapshotSelector
    target: TargetSettings
    scope: ScopeSettings
    namespace_mapping: Mapping[str, str]
    modifiers: tuple[ModifierSettings, ...]
    existing_policy: ExistingPolicy
    restore: RestoreParts
    waits: WaitSettings
    include_status: bool
    keep_last_applied: bool
    checks: tuple[Mapping[str, object], ...]  # raw, for drills
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    volumes: VolumeRestoreSettings = field(default_factory=VolumeRestoreSettings)
    finished_jobs: FinishedJobs = FinishedJobs.SKIP

    def error(self, field: str, message: str, hint: str | None = None) -> ConfigError:
        """An error about ``field`` of this file, at its line (for checks made after loading, such as
        a snapshot reference that names no snapshot)."""
        return ConfigError(message, file=str(self.source), line=self.lines.get(field), field=field, hint=hint)


SCHEMA: dict[str, tuple[str, ...]] = {
    path: keys
    for path, keys in keys_by_path(RestorePlanDocument).items()
    if not path.startswith("spec.checks") and path != "spec.modifiers[].jsonPatch[]"
}
"""Every mapping of the file format (by dotted path) and the keys it allows, from the document model
(:class:`~drkit.config.plandoc.RestorePlanDocument`); ``checks`` are drkit.drill.checks' own."""

_TOP = SCHEMA[""]
_METADATA = SCHEMA["metadata"]
_SPEC = SCHEMA["spec"]
_SNAPSHOT = SCHEMA["spec.snapshot"]
_TARGET = SCHEMA["spec.target"]
_SCOPE = SCHEMA["spec.scope"]
_MODIFIER = SCHEMA["spec.modifiers[]"]
_RESTORE = SCHEMA["spec.restore"]
_WAITS = SCHEMA["spec.waits"]
_VOLUMES = SCHEMA["spec.volumes"]
_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")
_PATCH_KEYS = keys_by_path(RestorePlanDocument)["spec.modifiers[].jsonPatch[]"]

_VOLUMES_DOC: TypeAdapter[plandoc.Volumes] = TypeAdapter(plandoc.Volumes)
_SPEC_DOC: TypeAdapter[plandoc.Spec] = TypeAdapter(plandoc.Spec)

VOLUME_KEYS: dict[str, str] = {
    "mover": "spec.volumes.mover",
    "path_map": "spec.volumes.pathMap",
    "secret": "spec.volumes.moverSecret",
    "image": "spec.volumes.image",
    "timeout": "spec.volumes.timeout",
    "run_as_user": "spec.volumes.runAsUser",
}
"""Each field of :class:`VolumeRestoreSettings` and the plan key that sets it (the command line's are
``VOLUME_FLAGS`` in ``drkit/cli/restore.py``, which override them; a test checks both are complete)."""


def load_restore_plan(path: Path) -> RestorePlanConfig:
    """Read and validate one plan file. ``ConfigError`` naming file, line and field on any problem."""
    return _Loader(path, load_yaml_file(path)).plan()


class _Loader:
    def __init__(self, path: Path, root: Node) -> None:
        self.path = path
        self.file = str(path)
        self.base = path.parent
        self.root = root
        self.lines: dict[str, int] = {}

    def plan(self) -> RestorePlanConfig:
        metadata, spec = document_sections(
            self.root,
            self.file,
            api_version=API_VERSION,
            kind=KIND,
            known=_TOP,
            metadata=_METADATA,
            spec=_SPEC,
            what="a restore plan is apiVersion, kind, metadata, spec",
            docs="docs/restore-plans.md",
        )
        name_node = metadata.require("name")
        name = self._dns(metadata, name_node, "metadata.name", "plan name")
        # the shape of the whole spec, by its model; checks are drkit.drill.checks' own (its words)
        shape = Node(
            {k: v for k, v in spec.entries.items() if k != "checks"}, spec.node.line, spec.node.column
        )
        validate_node(_SPEC_DOC, shape, file=self.file, path="spec", model=plandoc.Spec)
        for key, node in spec.entries.items():
            self.lines[f"spec.{key}"] = node.line
        return RestorePlanConfig(
            name=name,
            source=self.path,
            repository=self._repository(spec),
            snapshot=self._snapshot(spec),
            target=self._target(spec),
            scope=self._scope(spec),
            namespace_mapping=self._mapping(spec),
            modifiers=self._modifiers(spec),
            existing_policy=self._policy(spec),
            restore=self._restore(spec),
            waits=self._waits(spec),
            include_status=spec.bool_default("includeStatus", False),
            keep_last_applied=spec.bool_default("keepLastAppliedConfiguration", False),
            checks=self._checks(spec),
            volumes=self._volumes(spec),
            lines=dict(self.lines),
            finished_jobs=self._finished_jobs(spec),
        )

    def _dns(self, section: Section, node: Node, field: str, what: str) -> str:
        value = section.text(node, field)
        try:
            return check_name(value, what)
        except ValueError as exc:
            raise section.error(node, field, str(exc)) from None

    def _repository(self, spec: Section) -> RepositorySettings | None:
        if spec.get("repository") is None:
            return None
        from drkit.config.schedule import repository_settings

        return repository_settings(self.path, self.root, spec)

    def _snapshot(self, spec: Section) -> SnapshotSelector:
        node = spec.get("snapshot")
        if node is None:
            return SnapshotSelector()
        field_name = "spec.snapshot"
        if isinstance(node.value, str):
            text = spec.text(node, field_name).strip()
            if text == "latest":
                return SnapshotSelector()
            if not _SNAPSHOT_ID.fullmatch(text.lower()):
                raise spec.error(
                    node,
                    field_name,
                    f"{text!r} is not a snapshot reference",
                    "write latest, an id (4 or more hex digits), or a mapping "
                    "{latestBefore: <RFC 3339 time>, schedule: <name>}",
                )
            return SnapshotSelector(id=text.lower())
        if not isinstance(node.value, dict):
            raise spec.error(node, field_name, f"expected latest, an id or a mapping, got {node.kind}")
        section = Section(node, field_name, self.file, _SNAPSHOT)
        snap_id = section.str_optional("id")
        if snap_id is not None and not _SNAPSHOT_ID.fullmatch(snap_id.lower()):
            raise section.error(
                section.require("id"), "spec.snapshot.id", f"{snap_id!r} is not a snapshot id"
            )
        before: datetime | None = None
        before_node = section.get("latestBefore")
        if before_node is not None:
            before = self._time(section, before_node, "spec.snapshot.latestBefore")
        schedule: str | None = None
        schedule_node = section.get("schedule")
        if schedule_node is not None:
            schedule = self._dns(section, schedule_node, "spec.snapshot.schedule", "schedule name")
        if snap_id is not None and (before is not None or schedule is not None):
            raise section.error(node, field_name, "an id names one snapshot: give id alone")
        return SnapshotSelector(id=snap_id.lower() if snap_id else None, before=before, schedule=schedule)

    def _time(self, section: Section, node: Node, field_name: str) -> datetime:
        value = node.value
        if isinstance(value, datetime):  # PyYAML reads unquoted timestamps itself
            if value.tzinfo is None:
                raise section.error(node, field_name, "the time has no time zone: add Z or an offset")
            return value.astimezone(UTC)
        if isinstance(value, date):
            raise section.error(node, field_name, "a date is not a time: write 2026-11-26T00:00:00Z")
        text = section.text(node, field_name)
        try:
            return parse_time(text)
        except ValueError as exc:
            raise section.error(node, field_name, str(exc)) from None

    def _target(self, spec: Section) -> TargetSettings:
        target = spec.section("target", _TARGET)
        if target is None:
            return TargetSettings()
        settings = TargetSettings(
            kubeconfig=target.path_optional("kubeconfig", self.base),
            context=target.str_optional("context"),
            scratch=target.bool_default("scratch", False),
        )
        if settings.scratch and (settings.kubeconfig is not None or settings.context is not None):
            raise target.error(
                target.node,
                "spec.target",
                "scratch: true and a kubeconfig/context exclude each other",
                "a scratch target is a cluster the drill creates",
            )
        return settings

    def _scope(self, spec: Section) -> ScopeSettings:
        scope = spec.section("scope", _SCOPE)
        if scope is None:
            return ScopeSettings()
        node = scope.get("includeClusterResources")
        auto = node is not None and isinstance(node.value, str) and node.value.strip().lower() == "auto"
        if node is not None and not auto and not isinstance(node.value, bool):
            raise scope.error(
                node,
                "spec.scope.includeClusterResources",
                f"expected true, false or auto, got {node.value!r}",
            )
        selector, namespace_selector = (
            self._selector(scope, key) for key in ("selector", "namespaceSelector")
        )
        for key in ("includeResources", "excludeResources"):
            for i, pattern in enumerate(scope.str_list(key)):
                if "/" in pattern:
                    items = scope.require(key).value
                    item = items[i] if isinstance(items, list) else scope.require(key)
                    raise scope.error(
                        item,
                        f"spec.scope.{key}[{i}]",
                        f"{pattern!r}: a resource pattern has no '/'",
                        "write deployments.apps, configmaps or a glob such as *.example.com",
                    )
        return ScopeSettings(
            include_namespaces=scope.str_list("includeNamespaces"),
            exclude_namespaces=scope.str_list("excludeNamespaces"),
            include_resources=scope.str_list("includeResources"),
            exclude_resources=scope.str_list("excludeResources"),
            selector=selector,
            include_cluster_resources=auto or scope.bool_default("includeClusterResources", True),
            namespace_selector=namespace_selector,
            cluster_resources_auto=auto,
        )

    @staticmethod
    def _selector(scope: Section, key: str) -> LabelSelector | None:
        node = scope.get(key)
        if node is None:
            return None
        try:
            return LabelSelector.parse(scope.text(node, f"spec.scope.{key}"))
        except ValueError as exc:
            raise scope.error(node, f"spec.scope.{key}", str(exc)) from None

    def _mapping(self, spec: Section) -> dict[str, str]:
        node = spec.get("namespaceMapping")
        if node is None:
            return {}
        if not isinstance(node.value, dict):
            raise spec.error(
                node, "spec.namespaceMapping", f"expected a mapping of namespace names, got {node.kind}"
            )
        result: dict[str, str] = {}
        targets: dict[str, str] = {}
        for source, target_node in node.value.items():
            field_name = f"spec.namespaceMapping.{source}"
            try:
                check_name(source, "namespace name")
            except ValueError as exc:
                raise spec.error(target_node, field_name, str(exc)) from None
            target = self._dns(spec, target_node, field_name, "namespace name")
            if target in targets:
                raise spec.error(
                    target_node,
                    field_name,
                    f"{targets[target]!r} and {source!r} both map to {target!r}",
                    "objects of two namespaces would collide; map each to its own namespace",
                )
            targets[target] = source
            result[source] = target
        return result

    def _modifiers(self, spec: Section) -> tuple[ModifierSettings, ...]:
        node = spec.get("modifiers")
        if node is None:
            return ()
        if not isinstance(node.value, list):
            raise spec.error(node, "spec.modifiers", f"expected a list of modifiers, got {node.kind}")
        return tuple(self._modifier(item, i) for i, item in enumerate(node.value))

    def _modifier(self, node: Node, index: int) -> ModifierSettings:
        path = f"spec.modifiers[{index}]"
        section = Section(node, path, self.file, _MODIFIER)
        json_node = section.get("jsonPatch")
        merge_node = section.get("mergePatch")
        if (json_node is None) == (merge_node is None):
            raise section.error(node, path, "give exactly one of jsonPatch and mergePatch")
        json_patch: tuple[Mapping[str, object], ...] | None = None
        merge_patch: Mapping[str, object] | None = None
        if json_node is not None:
            json_patch = self._json_patch(section, json_node, f"{path}.jsonPatch")
        if merge_node is not None:
            if not isinstance(merge_node.value, dict):
                raise section.error(
                    merge_node,
                    f"{path}.mergePatch",
                    f"expected a mapping (a merge patch), got {merge_node.kind}",
                )
            plain = merge_node.plain()
            assert isinstance(plain, dict)
            merge_patch = _json_safe(plain, section, merge_node, f"{path}.mergePatch")
        return ModifierSettings(
            index=index,
            line=node.line,
            kinds=self._globs(section, "kinds"),
            names=self._globs(section, "names"),
            namespaces=self._globs(section, "namespaces"),
            json_patch=json_patch,
            merge_patch=merge_patch,
        )

    def _globs(self, section: Section, key: str) -> tuple[str, ...]:
        node = section.get(key)
        if node is not None and isinstance(node.value, str):
            return (section.text(node, section.child(key)),)
        return section.str_list(key)

    def _json_patch(self, section: Section, node: Node, field_name: str) -> tuple[Mapping[str, object], ...]:
        if not isinstance(node.value, list) or not node.value:
            raise section.error(node, field_name, f"expected a non-empty list of operations, got {node.kind}")
        ops: list[Mapping[str, object]] = []
        for i, item in enumerate(node.value):
            op_field = f"{field_name}[{i}]"
            op = Section(item, op_field, self.file, _PATCH_KEYS)
            name = op.str_required("op")
            if name not in _PATCH_OPS:
                raise op.error(
                    op.require("op"),
                    f"{op_field}.op",
                    f"unknown operation {name!r}: one of " + ", ".join(_PATCH_OPS),
                )
            pointer = op.require("path").value
            if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
                raise op.error(op.require("path"), f"{op_field}.path", "a JSON pointer starts with '/'")
            if name in ("add", "replace", "test") and "value" not in op.entries:
                raise op.error(item, f"{op_field}.value", f"a {name} operation needs a value")
            if name in ("move", "copy"):
                source = op.str_required("from")
                if not source.startswith("/"):
                    raise op.error(op.require("from"), f"{op_field}.from", "a JSON pointer starts with '/'")
            plain = item.plain()
            assert isinstance(plain, dict)
            ops.append(_json_safe(plain, op, item, op_field))
        return tuple(ops)

    def _finished_jobs(self, spec: Section) -> FinishedJobs:
        node = spec.get("finishedJobs")
        if node is None:
            return FinishedJobs.SKIP
        text = spec.text(node, "spec.finishedJobs").strip().lower()
        try:
            return FinishedJobs(text)
        except ValueError:
            raise spec.error(
                node, "spec.finishedJobs", f"expected skip or suspend, got {node.value!r}"
            ) from None

    def _policy(self, spec: Section) -> ExistingPolicy:
        node = spec.get("existingPolicy")
        if node is None:
            return ExistingPolicy.SKIP
        text = spec.text(node, "spec.existingPolicy").strip().lower()
        try:
            return ExistingPolicy(text)
        except ValueError:
            raise spec.error(
                node, "spec.existingPolicy", f"expected skip, update or fail, got {node.value!r}"
            ) from None

    def _restore(self, spec: Section) -> RestoreParts:
        section = spec.section("restore", _RESTORE)
        if section is None:
            return RestoreParts()
        parts = RestoreParts(
            resources=section.bool_default("resources", True),
            etcd=section.bool_default("etcd", False),
            volumes=section.bool_default("volumes", False),
        )
        for key, value in self._sub_lines(section).items():
            self.lines[f"spec.restore.{key}"] = value
        if not (parts.resources or parts.etcd or parts.volumes):
            raise section.error(section.node, "spec.restore", "nothing to restore: every part is false")
        return parts

    def _volumes(self, spec: Section) -> VolumeRestoreSettings:
        node = spec.get("volumes")
        if node is None:
            return VolumeRestoreSettings()
        v = validate_node(_VOLUMES_DOC, node, file=self.file, path="spec.volumes", model=plandoc.Volumes)
        section = Section(node, "spec.volumes", self.file, _VOLUMES)  # the lines of what a model cannot say
        for key, value in self._sub_lines(section).items():
            self.lines[f"spec.volumes.{key}"] = value
        timeout = section.duration_optional("timeout")
        if timeout is not None and timeout <= timedelta(0):
            raise section.error(
                section.require("timeout"), "spec.volumes.timeout", "a timeout must be longer than 0"
            )
        return VolumeRestoreSettings(
            mover=v.mover,
            path_map=tuple(v.path_map or ()),
            secret=v.mover_secret,
            image=v.image,
            timeout=timeout,
            run_as_user=v.run_as_user,
        )

    def _waits(self, spec: Section) -> WaitSettings:
        section = spec.section("waits", _WAITS)
        if section is None:
            return WaitSettings()
        timeouts: dict[str, timedelta] = {}
        node = section.get("timeouts")
        if node is not None:
            if not isinstance(node.value, dict):
                raise section.error(
                    node, "spec.waits.timeouts", f"expected a mapping of kind to duration, got {node.kind}"
                )
            for kind, value in node.value.items():
                field_name = f"spec.waits.timeouts.{kind}"
                if kind != "default" and not re.fullmatch(r"[A-Z][A-Za-z0-9]*", kind):
                    raise section.error(
                        value,
                        field_name,
                        f"{kind!r} is not a kind",
                        "write a kind such as Deployment, or default",
                    )
                duration = section.duration(value, field_name)
                if duration <= timedelta(0):
                    raise section.error(value, field_name, "a timeout must be longer than 0")
                timeouts[kind] = duration
        return WaitSettings(enabled=section.bool_default("enabled", True), timeouts=timeouts)

    def _checks(self, spec: Section) -> tuple[Mapping[str, object], ...]:
        node = spec.get("checks")
        if node is None:
            return ()
        if not isinstance(node.value, list):
            raise spec.error(node, "spec.checks", f"expected a list of checks, got {node.kind}")
        checks: list[Mapping[str, object]] = []
        for i, item in enumerate(node.value):
            if not isinstance(item.value, dict):
                raise spec.error(item, f"spec.checks[{i}]", f"expected a mapping, got {item.kind}")
            plain = item.plain()
            assert isinstance(plain, dict)
            checks.append(plain)
        return tuple(checks)

    @staticmethod
    def _sub_lines(section: Section) -> dict[str, int]:
        return {key: node.line for key, node in section.entries.items()}


def _json_safe(value: dict[str, object], section: Section, node: Node, field_name: str) -> dict[str, object]:
    """``value`` if it is plain JSON (no dates or other YAML-only types), else a ConfigError."""

    def check(item: object) -> None:
        if isinstance(item, dict):
            for v in item.values():
                check(v)
        elif isinstance(item, list):
            for v in item:
                check(v)
        elif not isinstance(item, str | int | float | bool) and item is not None:
            raise section.error(
                node,
                field_name,
                f"{item!r} is not a JSON value",
                "quote dates and times to make them strings",
            )

    check(value)
    return value


__all__: Sequence[str] = (
    "API_VERSION",
    "KIND",
    "SCHEMA",
    "VOLUME_KEYS",
    "ExistingPolicy",
    "FinishedJobs",
    "LabelSelector",
    "ModifierSettings",
    "Requirement",
    "RestoreParts",
    "RestorePlanConfig",
    "ScopeSettings",
    "SnapshotSelector",
    "TargetSettings",
    "VolumeRestoreSettings",
    "WaitSettings",
    "load_restore_plan",
    "parse_time",
)
