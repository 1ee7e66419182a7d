"""Choosing what to restore: the snapshot (by a plan's selector) and the objects (by its scope).

Pure functions over the repository's snapshot list and the captured objects' identities.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from drkit.config.restoreplan import ScopeSettings, SnapshotSelector
from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.format.model import KIND_CLUSTER, Snapshot, UnreadableSnapshot

MIN_PREFIX = 4


def made_by_schedule(snapshot: Snapshot, schedule: str) -> bool:
    """A snapshot of schedule ``schedule``: tagged ``<name>`` or ``schedule=<name>``, or recorded in its
    meta (``schedule``)."""
    if schedule in snapshot.tags or f"schedule={schedule}" in snapshot.tags:
        return True
    recorded = snapshot.meta.get("schedule")
    if isinstance(recorded, Mapping):
        recorded = recorded.get("name")
    return recorded == schedule


def has_resources(snapshot: Snapshot) -> bool:
    """A cluster snapshot that captured API resources (not an etcd-only one)."""
    return snapshot.kind == KIND_CLUSTER and "resources" in snapshot.meta


def choose_snapshot(
    snapshots: Sequence[Snapshot],
    selector: SnapshotSelector,
    *,
    need_resources: bool = True,
    unreadable: Sequence[UnreadableSnapshot] = (),
) -> Snapshot:
    """The snapshot ``selector`` names among ``snapshots`` (oldest first, as the repository lists them).
    ``ConfigError`` (field ``snapshot``) when there is none, it is ambiguous, or it holds no resources.
    An id that names one of the ``unreadable`` snapshots is ``VerificationFailed`` naming why."""
    usable = has_resources if need_resources else (lambda s: s.kind == KIND_CLUSTER)
    what = "cluster snapshot with API resources" if need_resources else "cluster snapshot"
    if selector.id is not None:
        ref = selector.id.lower()
        found = [s for s in snapshots if s.id == ref] or [s for s in snapshots if s.id.startswith(ref)]
        if len(ref) < MIN_PREFIX:
            raise ConfigError(
                f"snapshot id {ref!r} is too short: give at least {MIN_PREFIX} digits", field="snapshot"
            )
        broken = [u for u in unreadable if u.id == ref] or [u for u in unreadable if u.id.startswith(ref)]
        if len(found) == 1 and found[0].id == ref:
            broken = []
        if len(found) + len(broken) > 1:
            ids = ", ".join([s.short_id for s in found] + [f"{u.id[:8]} (unreadable)" for u in broken])
            raise ConfigError(f"snapshot id {ref!r} is ambiguous: {ids}", field="snapshot")
        if broken:
            raise VerificationFailed(
                f"snapshot {broken[0].id} exists but cannot be read: {broken[0].message}",
                hint="`drkit verify` checks the whole repository; restore from another snapshot",
            )
        if not found:
            raise ConfigError(f"no snapshot {ref!r}", field="snapshot", hint="`drkit snapshots` lists them")
        if not usable(found[0]):
            raise ConfigError(
                f"snapshot {found[0].short_id} is not a {what} (kind {found[0].kind})", field="snapshot"
            )
        return found[0]
    candidates = [s for s in snapshots if usable(s)]
    if selector.schedule is not None:
        candidates = [s for s in candidates if made_by_schedule(s, selector.schedule)]
    if selector.before is not None:
        before = selector.before
        candidates = [s for s in candidates if s.time < before]
    if not candidates:
        raise ConfigError(
            f"no {what} matches {selector.describe()!r}",
            field="snapshot",
            hint="`drkit snapshots` lists them",
        )
    return max(candidates, key=lambda s: (s.time, s.id))


# -- scope ----------------------------------------------------------------------------------------


def _glob(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str, group: str) -> bool:
    """A resource pattern: ``plural`` (any group), ``plural.group`` (core: no suffix), or a glob over
    either form. Case-insensitive, as in capture filters."""
    names = (resource.lower(), f"{resource}.{group}".lower() if group else resource.lower())
    for raw in patterns:
        pattern = raw.lower()
        if any(c in pattern for c in "*?["):
            if any(fnmatch.fnmatchcase(n, pattern) for n in names):
                return True
        elif pattern in names:
            return True
    return False


@dataclass(frozen=True)
class ObjectScope:
    """The plan's scope as a decision per object: ``None`` to restore it, else why not."""

    settings: ScopeSettings
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The labels of the snapshot's Namespace objects (for ``namespaceSelector``)."""

    def namespace_included(self, namespace: str) -> bool:
        return self._namespace_excluded(namespace) is None

    def named_exactly(self, namespace: str) -> bool:
        """Whether ``includeNamespaces`` names ``namespace`` without a glob (system namespaces need it)."""
        return namespace in self.settings.include_namespaces

    def excluded(
        self, group: str, resource: str, namespace: str, name: str, labels: Mapping[str, str]
    ) -> str | None:
        s = self.settings
        qualified = f"{resource}.{group}" if group else resource
        if s.include_resources and not resource_matches(s.include_resources, resource, group):
            return f"{qualified} is not in scope.includeResources"
        if resource_matches(s.exclude_resources, resource, group):
            return f"{qualified} is in scope.excludeResources"
        is_namespace = group == "" and resource == "namespaces"
        if namespace or is_namespace:
            why = self._namespace_excluded(namespace or name)
            if why is not None:
                return why
        elif not s.include_cluster_resources:
            return "cluster-scoped, and scope.includeClusterResources is false"
        if namespace and s.selector is not None and not s.selector.matches(labels):
            return f"labels do not match scope.selector {s.selector.text!r}"
        return None

    def _namespace_excluded(self, namespace: str) -> str | None:
        s = self.settings
        if s.include_namespaces and not _glob(s.include_namespaces, namespace):
            return f"namespace {namespace} is not in scope.includeNamespaces"
        if _glob(s.exclude_namespaces, namespace):
            return f"namespace {namespace} is in scope.excludeNamespaces"
        chosen = s.namespace_selector
        if chosen is not None:
            labels = self.namespace_labels.get(namespace)
            if labels is None:
                return (
                    f"the snapshot holds no Namespace object for {namespace}, whose labels "
                    f"scope.namespaceSelector {chosen.text!r} would match"
                )
            if not chosen.matches(labels):
                return (
                    f"namespace {namespace}: its labels do not match scope.namespaceSelector {chosen.text!r}"
                )
        return None
