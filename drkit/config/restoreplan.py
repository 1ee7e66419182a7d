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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import TypeAdapter

from drkit.config import plandoc
from drkit.config.durations import parse_duration
from drkit.config.model import keys_by_path, timedelta_of
from drkit.config.plandoc import RestorePlanDocument
from drkit.config.repository import RepositorySettings, repository_settings
from drkit.config.translate import validate_node
from drkit.config.yamlsource import Node, document_sections, load_yaml_file
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
    parallel: int | None = None  # job mode: restore Jobs of that many claims at a time (None: 4)


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

_SPEC_DOC: TypeAdapter[plandoc.Spec] = TypeAdapter(plandoc.Spec)

VOLUME_KEYS: dict[str, str] = {
    "mover": "spec.volumes.mover",
    "path_map": "spec.volumes.pathMap",
    "secret": "spec.volumes.moverSecret",
    "image": "spec.volumes.image",
    "timeout": "spec.volumes.timeout",
    "run_as_user": "spec.volumes.runAsUser",
    "parallel": "spec.volumes.parallel",
}
"""Each field of :class:`VolumeRestoreSettings` and the plan key that sets it (the command line's are
``VOLUME_FLAGS`` in ``drkit/cli/restore.py``, which override them; a test checks both are complete)."""


def load_restore_plan(path: Path) -> RestorePlanConfig:
    """Read and validate one plan file. ``ConfigError`` naming file, line and field on any problem."""
    return _Loader(path, load_yaml_file(path)).plan()


class _Loader:
    """Builds a :class:`RestorePlanConfig` from the spec its document model validated
    (:class:`~drkit.config.plandoc.Spec`), checking what a model cannot say (a name that is a DNS
    label, a selector that parses, two namespaces mapped onto one); the YAML nodes give the lines."""

    def __init__(self, path: Path, root: Node) -> None:
        self.path = path
        self.file = str(path)
        self.base = path.parent
        self.root = root
        self.spec = Node({}, 0, 0)
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
        name = self._dns(name_node, metadata.text(name_node, "metadata.name"), "metadata.name", "plan name")
        self.spec = spec.node
        # the shape of the whole spec, by its model; checks are drkit.drill.checks' own (its words)
        shape = Node(
            {k: v for k, v in spec.entries.items() if k != "checks"}, spec.node.line, spec.node.column
        )
        doc = validate_node(_SPEC_DOC, shape, file=self.file, path="spec", model=plandoc.Spec)
        self._record_lines("spec", spec.node)
        return RestorePlanConfig(
            name=name,
            source=self.path,
            repository=None
            if doc.repository is None
            else repository_settings(doc.repository, self._at("repository"), base=self.base, file=self.file),
            snapshot=self._snapshot(doc.snapshot),
            target=self._target(doc.target),
            scope=self._scope(doc.scope),
            namespace_mapping=self._mapping(doc.namespace_mapping),
            modifiers=self._modifiers(doc.modifiers),
            existing_policy=ExistingPolicy(doc.existing_policy or ExistingPolicy.SKIP),
            restore=self._restore(doc.restore),
            waits=self._waits(doc.waits),
            include_status=bool(doc.include_status),
            keep_last_applied=bool(doc.keep_last_applied_configuration),
            checks=self._checks(),
            volumes=self._volumes(doc.volumes),
            lines=dict(self.lines),
            finished_jobs=FinishedJobs(doc.finished_jobs or FinishedJobs.SKIP),
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def _at(self, *keys: str | int) -> Node:
        """The node at ``spec.<keys>`` (the model has checked that it is there)."""
        node = self.spec
        for key in keys:
            value = node.value
            if isinstance(value, dict):
                node = value[str(key)]
            elif isinstance(value, list) and isinstance(key, int):
                node = value[key]
        return node

    def _error(self, node: Node, field: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=node.line, field=field, hint=hint)

    def _record_lines(self, path: str, node: Node) -> None:
        if isinstance(node.value, dict):
            for key, value in node.value.items():
                self.lines[f"{path}.{key}"] = value.line

    def _dns(self, node: Node, value: str, field: str, what: str) -> str:
        try:
            return check_name(value, what)
        except ValueError as exc:
            raise self._error(node, field, str(exc)) from None

    # -- the parts --------------------------------------------------------------------------------

    def _snapshot(self, doc: str | plandoc.Snapshot | None) -> SnapshotSelector:
        if doc is None or doc == "latest":
            return SnapshotSelector()
        if isinstance(doc, str):
            return SnapshotSelector(id=doc)  # the model lowered it
        before = None if doc.latest_before is None else self._time(doc.latest_before)
        schedule = None
        if doc.schedule is not None:
            node = self._at("snapshot", "schedule")
            schedule = self._dns(node, doc.schedule, "spec.snapshot.schedule", "schedule name")
        if doc.id is not None and (before is not None or schedule is not None):
            raise self._error(
                self._at("snapshot"), "spec.snapshot", "an id names one snapshot: give id alone"
            )
        return SnapshotSelector(
            id=None if doc.id is None else doc.id.lower(), before=before, schedule=schedule
        )

    def _time(self, value: datetime | str) -> datetime:
        node, field_name = self._at("snapshot", "latestBefore"), "spec.snapshot.latestBefore"
        if isinstance(value, datetime):  # PyYAML reads unquoted timestamps itself
            if value.tzinfo is None:
                raise self._error(node, field_name, "the time has no time zone: add Z or an offset")
            return value.astimezone(UTC)
        try:
            return parse_time(value)
        except ValueError as exc:
            raise self._error(node, field_name, str(exc)) from None

    def _target(self, doc: plandoc.Target | None) -> TargetSettings:
        if doc is None:
            return TargetSettings()
        settings = TargetSettings(
            kubeconfig=None if doc.kubeconfig is None else self.base / doc.kubeconfig,
            context=doc.context,
            scratch=bool(doc.scratch),
        )
        if settings.scratch and (settings.kubeconfig is not None or settings.context is not None):
            raise self._error(
                self._at("target"),
                "spec.target",
                "scratch: true and a kubeconfig/context exclude each other",
                "a scratch target is a cluster the drill creates",
            )
        return settings

    def _scope(self, doc: plandoc.Scope | None) -> ScopeSettings:
        if doc is None:
            return ScopeSettings()
        for key, patterns in (
            ("includeResources", doc.include_resources),
            ("excludeResources", doc.exclude_resources),
        ):
            for i, pattern in enumerate(patterns or ()):
                if "/" in pattern:
                    raise self._error(
                        self._at("scope", key, i),
                        f"spec.scope.{key}[{i}]",
                        f"{pattern!r}: a resource pattern has no '/'",
                        "write deployments.apps, configmaps or a glob such as *.example.com",
                    )
        mode = doc.include_cluster_resources
        auto = mode == "auto"
        return ScopeSettings(
            include_namespaces=tuple(doc.include_namespaces or ()),
            exclude_namespaces=tuple(doc.exclude_namespaces or ()),
            include_resources=tuple(doc.include_resources or ()),
            exclude_resources=tuple(doc.exclude_resources or ()),
            selector=self._selector("selector", doc.selector),
            include_cluster_resources=mode is None or auto or mode is True or mode == "true",
            namespace_selector=self._selector("namespaceSelector", doc.namespace_selector),
            cluster_resources_auto=auto,
        )

    def _selector(self, key: str, text: str | None) -> LabelSelector | None:
        if text is None:
            return None
        try:
            return LabelSelector.parse(text)
        except ValueError as exc:
            raise self._error(self._at("scope", key), f"spec.scope.{key}", str(exc)) from None

    def _mapping(self, doc: Mapping[str, str] | None) -> dict[str, str]:
        result: dict[str, str] = {}
        targets: dict[str, str] = {}
        for source, target in (doc or {}).items():
            field_name = f"spec.namespaceMapping.{source}"
            node = self._at("namespaceMapping", source)
            self._dns(node, source, field_name, "namespace name")
            self._dns(node, target, field_name, "namespace name")
            if target in targets:
                raise self._error(
                    node,
                    field_name,
                    f"{targets[target]!r} and {source!r} both map to {target!r}",
                    "objects of two namespaces would collide; map each to its own namespace",
                )
            targets[target] = source
            result[source] = target
        return result

    def _modifiers(self, doc: Sequence[plandoc.Modifier] | None) -> tuple[ModifierSettings, ...]:
        return tuple(self._modifier(m, i) for i, m in enumerate(doc or ()))

    def _modifier(self, doc: plandoc.Modifier, index: int) -> ModifierSettings:
        path = f"spec.modifiers[{index}]"
        node = self._at("modifiers", index)
        if (doc.json_patch is None) == (doc.merge_patch is None):
            raise self._error(node, path, "give exactly one of jsonPatch and mergePatch")
        json_patch: tuple[Mapping[str, object], ...] | None = None
        merge_patch: Mapping[str, object] | None = None
        if doc.json_patch is not None:
            json_patch = tuple(self._operation(op, index, i) for i, op in enumerate(doc.json_patch))
        if doc.merge_patch is not None:
            merge_patch = self._json_safe(
                doc.merge_patch, self._at("modifiers", index, "mergePatch"), f"{path}.mergePatch"
            )
        return ModifierSettings(
            index=index,
            line=node.line,
            kinds=_globs(doc.kinds),
            names=_globs(doc.names),
            namespaces=_globs(doc.namespaces),
            json_patch=json_patch,
            merge_patch=merge_patch,
        )

    def _operation(self, op: plandoc.PatchOperation, modifier: int, index: int) -> Mapping[str, object]:
        field_name = f"spec.modifiers[{modifier}].jsonPatch[{index}]"
        node = self._at("modifiers", modifier, "jsonPatch", index)
        if op.path and not op.path.startswith("/"):
            raise self._error(
                self._at("modifiers", modifier, "jsonPatch", index, "path"),
                f"{field_name}.path",
                "a JSON pointer starts with '/'",
            )
        if op.op in ("add", "replace", "test") and "value" not in op.model_fields_set:
            raise self._error(node, f"{field_name}.value", f"a {op.op} operation needs a value")
        if op.op in ("move", "copy"):
            if op.from_ is None:
                raise ConfigError(
                    "missing required field", file=self.file, line=node.line, field=f"{field_name}.from"
                )
            if not op.from_.startswith("/"):
                raise self._error(
                    self._at("modifiers", modifier, "jsonPatch", index, "from"),
                    f"{field_name}.from",
                    "a JSON pointer starts with '/'",
                )
        return self._json_safe(op.model_dump(by_alias=True, exclude_unset=True), node, field_name)

    def _restore(self, doc: plandoc.Restore | None) -> RestoreParts:
        if doc is None:
            return RestoreParts()
        parts = RestoreParts(
            resources=doc.resources is not False, etcd=bool(doc.etcd), volumes=bool(doc.volumes)
        )
        self._record_lines("spec.restore", self._at("restore"))
        if not (parts.resources or parts.etcd or parts.volumes):
            raise self._error(self._at("restore"), "spec.restore", "nothing to restore: every part is false")
        return parts

    def _volumes(self, doc: plandoc.Volumes | None) -> VolumeRestoreSettings:
        if doc is None:
            return VolumeRestoreSettings()
        self._record_lines("spec.volumes", self._at("volumes"))
        timeout = timedelta_of(doc.timeout)
        if timeout is not None and timeout <= timedelta(0):
            raise self._error(
                self._at("volumes", "timeout"), "spec.volumes.timeout", "a timeout must be longer than 0"
            )
        return VolumeRestoreSettings(
            mover=doc.mover,
            path_map=tuple(doc.path_map or ()),
            secret=doc.mover_secret,
            image=doc.image,
            timeout=timeout,
            run_as_user=doc.run_as_user,
            parallel=doc.parallel,
        )

    def _waits(self, doc: plandoc.Waits | None) -> WaitSettings:
        if doc is None:
            return WaitSettings()
        timeouts: dict[str, timedelta] = {}
        for kind, value in (doc.timeouts or {}).items():
            field_name = f"spec.waits.timeouts.{kind}"
            node = self._at("waits", "timeouts", kind)
            if kind != "default" and not re.fullmatch(r"[A-Z][A-Za-z0-9]*", kind):
                raise self._error(
                    node, field_name, f"{kind!r} is not a kind", "write a kind such as Deployment, or default"
                )
            duration = parse_duration(value, "")
            if duration <= timedelta(0):
                raise self._error(node, field_name, "a timeout must be longer than 0")
            timeouts[kind] = duration
        return WaitSettings(enabled=doc.enabled is not False, timeouts=timeouts)

    def _checks(self) -> tuple[Mapping[str, object], ...]:
        """``spec.checks`` as plain mappings: drkit.drill.checks validates them by their own model."""
        entries = self.spec.value if isinstance(self.spec.value, dict) else {}
        node = entries.get("checks")
        if node is None or node.value is None:
            return ()
        if not isinstance(node.value, list):
            raise self._error(node, "spec.checks", f"expected a list of checks, got {node.kind}")
        checks: list[Mapping[str, object]] = []
        for i, item in enumerate(node.value):
            plain = item.plain()
            if not isinstance(plain, dict):
                raise self._error(item, f"spec.checks[{i}]", f"expected a mapping, got {item.kind}")
            checks.append(plain)
        return tuple(checks)

    def _json_safe(self, value: dict[str, object], node: Node, field_name: str) -> dict[str, object]:
        """``value`` if it is plain JSON (no dates or other YAML-only types), else a ConfigError."""

        def check(item: object) -> None:
            if isinstance(item, dict):
                for v in item.values():
                    check(v)
            elif isinstance(item, list):
                for v in item:
                    check(v)
            elif not isinstance(item, str | int | float | bool) and item is not None:
                raise self._error(
                    node,
                    field_name,
                    f"{item!r} is not a JSON value",
                    "quote dates and times to make them strings",
                )

        check(value)
        return value


def _globs(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


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
