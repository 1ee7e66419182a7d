"""A drill from a restore plan file: the plan's snapshot, restored by the restore engine into a
scratch cluster, checked with the plan's ``checks:``.

    config = load_restore_plan(Path("restore-plans/shop.yaml"))
    request = drill_request(config, repo, make_provider("local"))
    result = run_drill(request)
    store_result(repo, result)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drkit.capture.localpaths import PathRule
from drkit.capture.resources import CapturedObject
from drkit.capture.stored import stored_objects
from drkit.config.restoreplan import RestorePlanConfig, SnapshotSelector
from drkit.config.yamlsource import Node, load_yaml_file
from drkit.drill.checks import CheckSpec, SnapshotFiles, message_of, parse_checks, resolver
from drkit.drill.providers.base import ScratchCluster
from drkit.drill.result import RestoreSummary
from drkit.drill.runner import DrillRequest, RestoreOutcome, Restorer, Target, outcome_of
from drkit.errors import ConfigError
from drkit.kube.apply import Requester
from drkit.kube.client import KubeClient
from drkit.kube.discovery import discover
from drkit.kube.resource import Resource
from drkit.repo.format.model import Snapshot
from drkit.repo.repository import Repository
from drkit.restore.applier import existing_objects
from drkit.restore.fills import Filler, plan_fills
from drkit.restore.jobfill import JobFiller
from drkit.restore.localfill import LocalFiller
from drkit.restore.planner import PlannerOptions, prepare
from drkit.restore.select import choose_snapshot
from drkit.restore.volumes import apply_with_volumes, fill_options

_log = logging.getLogger(__name__)


def plan_checks(config: RestorePlanConfig) -> tuple[CheckSpec, ...]:
    """The plan's ``checks:``, validated; errors name the plan file, the line and the field. The plan
    loader keeps checks as plain data, so the file is read once more for the lines."""
    checks: object = list(config.checks)
    try:
        spec = load_yaml_file(config.source).value
        node = spec["spec"].value.get("checks") if isinstance(spec, dict) else None
        if isinstance(node, Node) and isinstance(node.value, list) and len(node.value) == len(config.checks):
            checks = node
    except (ConfigError, OSError, KeyError, AttributeError):
        pass  # the file changed since it was loaded: fall back to the plain data
    try:
        return parse_checks(checks, file=str(config.source), path="spec.checks")
    except ConfigError as exc:
        line = exc.line or _line_of(config.lines, exc.field or "")
        raise ConfigError(
            message_of(exc), file=str(config.source), line=line, field=exc.field, hint=exc.hint
        ) from None


def _line_of(lines: Mapping[str, int], field: str) -> int | None:
    """The line of ``field`` or of its nearest recorded parent (``spec.checks[2]`` -> ``spec.checks``)."""
    path = field
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


class PlanRestorer:
    """Restores the snapshot's objects as the plan says, into the scratch cluster, with the drill's
    namespace mapping (snapshot namespace -> scratch namespace)."""

    def __init__(
        self,
        config: RestorePlanConfig,
        objects: Sequence[CapturedObject],
        snapshot: Snapshot,
        *,
        repo: Repository | None = None,
        provider: ScratchCluster | None = None,
    ) -> None:
        self.config = config
        self.objects = objects
        self.snapshot = snapshot
        self.repo = repo
        self.provider = provider

    def __call__(self, kube: Requester, namespace_map: Mapping[str, str]) -> RestoreOutcome:
        options = replace(PlannerOptions.from_config(self.config), namespace_mapping=dict(namespace_map))
        prepared = prepare(self.objects, options)
        plan = prepared.decide(
            existing_objects(kube, prepared.refs()), snapshot_id=self.snapshot.id, target="scratch cluster"
        )
        fills = filler = None
        if self.config.restore.volumes and self.repo is not None:
            fills = plan_fills(self.snapshot.meta.get("volumes"), plan, self.snapshot.id)
            filler = self._filler(kube)
        report, filled = apply_with_volumes(kube, plan, fills, filler, timeouts=self.config.waits.seconds())
        outcome = outcome_of(report, plan.counts())
        if fills is None:
            return outcome
        s = outcome.summary
        failures = (*s.failures, *(f"volume {r.fill.key}: {r.message}" for r in filled if not r.ok))
        counts = {**s.counts, "volumes": sum(1 for r in filled if r.ok)}
        return replace(outcome, summary=replace(s, counts=counts, failures=failures))

    def _filler(self, kube: Requester) -> Filler:
        """Local directories when the provider keeps volumes itself (its nodes run no containers), else a
        restore Job per claim in the scratch cluster."""
        assert self.repo is not None
        volumes = self.provider.volumes if self.provider is not None else None
        root = getattr(volumes, "volume_root", None)
        if root is not None:
            rule = PathRule.parse(f"*/*={root()}/{{namespace}}/{{pvc}}")
            return LocalFiller(self.repo, kube, [rule])
        options = fill_options(self.config, mover="job")
        if not isinstance(kube, KubeClient):
            raise ConfigError("restore Jobs need a Kubernetes client of the scratch cluster")
        return JobFiller(kube, options.settings, timeout_s=options.timeout_s, parallel=options.parallel)


@dataclass
class KubeTarget:
    """The scratch cluster's client; kinds are resolved by discovery, done when first needed (after
    the restore, so restored CRDs are served) and once more for a kind not found."""

    kube: KubeClient
    _resources: list[Resource] | None = field(default=None, repr=False)

    def _discover(self) -> list[Resource]:
        self._resources = discover(self.kube).resources
        return self._resources

    def resolve(self, kind: str, api_version: str | None) -> Resource:
        fresh = self._resources is None
        try:
            return resolver(self._resources if self._resources is not None else self._discover())(
                kind, api_version
            )
        except ConfigError:
            if fresh:
                raise
            return resolver(self._discover())(kind, api_version)

    def close(self) -> None:
        self.kube.close()


def kube_target(kubeconfig: Path, context: str | None) -> Target:
    return KubeTarget(KubeClient.from_kubeconfig(kubeconfig, context))


def choose(
    repo: Repository,
    config: RestorePlanConfig,
    selector: SnapshotSelector | None = None,
    *,
    etcd: bool = False,
) -> Snapshot:
    """The snapshot the drill restores: ``selector`` (a --snapshot override) or the plan's; for an
    ``etcd`` drill any cluster snapshot with an etcd database."""
    unreadable = repo.unreadable_snapshots()
    chosen = selector or config.snapshot
    if unreadable and chosen.id is None:
        _log.warning(
            "%d snapshots cannot be read and are not considered: %s",
            len(unreadable),
            ", ".join(u.id[:8] for u in unreadable),
        )
    try:
        snapshot = choose_snapshot(repo.snapshots(), chosen, need_resources=not etcd, unreadable=unreadable)
    except ConfigError as exc:
        if selector is not None:
            raise ConfigError(message_of(exc), field="--snapshot", hint=exc.hint) from None
        raise config.error("spec.snapshot", message_of(exc), exc.hint) from None
    if etcd and "etcd" not in snapshot.meta:
        field = "--snapshot" if selector is not None else "spec.snapshot"
        raise config.error(
            field, f"snapshot {snapshot.short_id} holds no etcd database: an etcd drill needs one"
        )
    return snapshot


class SnapshotWithVolumes:
    """The cluster snapshot's files, where a volume a mover Job captured reads from its own ``volume``
    snapshot (the record's ``snapshot``) under the same ``volumes/<ns>/<pvc>/`` path: what
    ``volumeChecksum`` compares the restored files with."""

    def __init__(
        self, repo: Repository, reader: SnapshotFiles, volumes_meta: Mapping[str, Any] | None
    ) -> None:
        self.repo = repo
        self.reader = reader
        self.elsewhere: dict[str, str] = {}
        for rec in (volumes_meta or {}).get("volumes") or []:
            if isinstance(rec, Mapping) and rec.get("mode") == "job" and rec.get("snapshot"):
                self.elsewhere[f"volumes/{rec.get('namespace')}/{rec.get('pvc')}/"] = str(rec["snapshot"])
        self._readers: dict[str, SnapshotFiles] = {}

    def _files(self, path: str) -> SnapshotFiles:
        for prefix, snapshot_id in self.elsewhere.items():
            if path.startswith(prefix):
                if snapshot_id not in self._readers:
                    self._readers[snapshot_id] = self.repo.snapshot_reader(snapshot_id)
                return self._readers[snapshot_id]
        return self.reader

    def exists(self, path: str) -> bool:
        return self._files(path).exists(path)

    def read_bytes(self, path: str) -> bytes:
        return self._files(path).read_bytes(path)


class RestoredFromEtcd:
    """The restorer of an ``etcd`` drill: the provider restored everything while coming up."""

    def __call__(self, kube: Requester, namespace_map: Mapping[str, str]) -> RestoreOutcome:
        return RestoreOutcome(RestoreSummary({"etcd": 1}, 0, (), 0), 0.0)


def drill_request(
    config: RestorePlanConfig,
    repo: Repository,
    provider: ScratchCluster,
    *,
    selector: SnapshotSelector | None = None,
    keep: bool = False,
    on_phase: Callable[[str], None] | None = None,
) -> DrillRequest:
    """Everything a drill needs, read and validated before any cluster is started."""
    etcd = provider.provider == "etcd"
    if config.restore.etcd and not etcd:
        raise config.error(
            "spec.restore.etcd",
            "only the etcd provider restores etcd",
            "run `drkit drill run --provider etcd`, or set etcd: false to restore API resources",
        )
    if not etcd and not config.restore.resources:
        raise config.error("spec.restore", "the plan restores no resources: a drill has nothing to restore")
    specs = plan_checks(config)
    snapshot = choose(repo, config, selector, etcd=etcd)
    reader = repo.snapshot_reader(snapshot.id)
    restorer: Restorer
    if etcd:
        objects: list[CapturedObject] = []
        restorer = RestoredFromEtcd()
        use = getattr(provider, "use_snapshot", None)
        if use is not None:
            use(reader)
    else:
        objects = list(stored_objects(reader))
        restorer = PlanRestorer(config, objects, snapshot, repo=repo, provider=provider)
    return DrillRequest(
        plan=config.name,
        plan_file=str(config.source),
        provider=provider,
        snapshot=snapshot,
        restore=restorer,
        target=kube_target,
        specs=specs,
        files=SnapshotWithVolumes(repo, reader, snapshot.meta.get("volumes")),
        namespaces=sorted({o.namespace for o in objects if o.namespace}),
        namespace_mapping=dict(config.namespace_mapping),
        keep=keep,
        id=getattr(provider, "id", ""),
        on_phase=on_phase,
    )
