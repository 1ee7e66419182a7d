"""Volume data in a restore: every claim the plan creates is filled from the snapshot before the
workloads that mount it are applied.

    fills = plan_fills(snapshot.meta.get("volumes"), plan, snapshot.id)   # pure: which claim, which data
    filler = LocalFiller(repo, kube, rules)                               # or JobFiller(kube, settings)
    report, results = apply_with_volumes(kube, plan, fills, filler)       # fills before the workloads

Where the data is: a volume captured in local mode lives in the cluster snapshot itself under
``volumes/<ns>/<pvc>``; one captured by a mover Job lives in its own ``volume`` snapshot (the
record's ``snapshot``), under the same path.

Rules (docs/volumes.md, "Restore"):

* Only a claim this restore **creates** is filled. A claim that exists in the target (``skip``,
  ``update`` or ``fail``) keeps its data: drkit never writes into a volume it did not just create.
* A volume whose capture failed, or that the snapshot holds no data for, is listed with the reason;
  its claim is still created (empty).
* Local mode restores into a directory on this machine: a ``--volume-path-map`` rule for the target
  claim, else the host path of the PersistentVolume it binds to. The directory must be empty.
* Job mode runs a restore Job per claim (``drkit mover restore`` in the drkit image), which reads the
  repository settings from the mover Secret of the claim's namespace; that Secret must exist and must
  not be write-only (a write-only key cannot read). The Jobs of independent claims run a few at a
  time under one deadline for all of them (:class:`JobFiller`).
* One volume failing is recorded and the others go on; the caller reports a partial restore. A
  workload (or Pod) that mounts a claim that could not be filled is **held back** (a failed result
  naming the claim): started on an empty volume, an application may initialise fresh data there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

from drkit.capture.claims import VolumeInfo, affinity_node
from drkit.capture.jobclient import KubeMoverCluster, MoverCluster
from drkit.capture.localpaths import PathRule, local_node_name, resolve_local
from drkit.capture.movers import MoverSettings, MoverTarget
from drkit.config.restoreplan import RestorePlanConfig
from drkit.deadline import Deadline
from drkit.errors import ConfigError, DrkitError, KubernetesError
from drkit.kube.apply import Requester, get
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeAPIError, KubeNotFound
from drkit.repo.engine.progress import NullProgress, Progress
from drkit.repo.repository import Repository
from drkit.restore.applier import apply_plan
from drkit.restore.model import Action, ActionResult, ApplyReport, RestorePlan, Verb
from drkit.restore.released import REBIND_HINT
from drkit.restore.restorejob import run_restore_job, target_from_record

Json = dict[str, Any]
BIND_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class VolumeFill:
    """One claim to fill: ``source`` (``ns/pvc`` in the snapshot) into ``namespace``/``pvc`` of the
    target, from ``path`` of snapshot ``snapshot_id``."""

    source: str
    namespace: str
    pvc: str
    snapshot_id: str
    path: str
    record: Mapping[str, Any] = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pvc}"

    def mover_target(self) -> MoverTarget:
        return replace(target_from_record(self.record), namespace=self.namespace, pvc=self.pvc)

    def to_json(self) -> Json:
        return {
            "source": self.source,
            "target": self.key,
            "snapshot": self.snapshot_id,
            "path": self.path,
            "mode": self.record.get("mode"),
            "files": self.record.get("files"),
            "bytes": self.record.get("bytes"),
        }


@dataclass(frozen=True)
class FillPlan:
    fills: tuple[VolumeFill, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # ("ns/pvc" in the snapshot, why its data is not restored)

    def to_json(self) -> Json:
        return {
            "fills": [f.to_json() for f in self.fills],
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
        }


def _claim_source(action: Action) -> str | None:
    """``ns/name`` of a claim action in the snapshot, from its source path
    ``resources/core/v1/persistentvolumeclaims/<ns>/<name>.json``."""
    parts = action.source_path.split("/")
    if len(parts) != 6 or parts[3] != "persistentvolumeclaims" or not parts[5].endswith(".json"):
        return None
    return f"{parts[4]}/{parts[5].removesuffix('.json')}"


def plan_fills(volumes_meta: Mapping[str, Any] | None, plan: RestorePlan, snapshot_id: str) -> FillPlan:
    """Which claims of ``plan`` are filled, from which data, and which are not and why (pure)."""
    records: dict[str, Mapping[str, Any]] = {}
    for rec in (volumes_meta or {}).get("volumes") or []:
        if isinstance(rec, Mapping) and "namespace" in rec and "pvc" in rec:
            records[f"{rec['namespace']}/{rec['pvc']}"] = rec
    claims = [
        (source, a)
        for a in plan.actions
        if a.ref.group == "" and a.ref.resource == "persistentvolumeclaims"
        for source in [_claim_source(a)]
        if source is not None
    ]
    fills: list[VolumeFill] = []
    skipped: list[tuple[str, str]] = []
    for source, action in claims:
        rec = records.pop(source, None)
        if rec is None:
            skipped.append((source, "the snapshot holds no data for this claim (not captured)"))
            continue
        if rec.get("status") != "ok":
            skipped.append((source, f"its capture failed: {rec.get('error') or 'no reason recorded'}"))
            continue
        if action.verb is not Verb.CREATE:
            skipped.append(
                (source, f"the claim exists in the target ({action.verb}): drkit leaves its data alone")
            )
            continue
        if rec.get("mode") == "job":
            data_snapshot = str(rec.get("snapshot") or "")
            if not data_snapshot:
                skipped.append((source, "its record names no volume snapshot"))
                continue
        else:
            data_snapshot = snapshot_id
        fills.append(
            VolumeFill(source, action.ref.namespace, action.ref.name, data_snapshot, f"volumes/{source}", rec)
        )
    skipped += [(source, "its claim is not restored by this plan") for source, rec in sorted(records.items())]
    return FillPlan(tuple(fills), tuple(skipped))


# -- filling ---------------------------------------------------------------------------------------


@dataclass
class FillResult:
    fill: VolumeFill
    mode: str
    ok: bool = False
    message: str = ""
    where: str = ""  # the directory (local) or the Job (job)
    files: int = 0
    bytes: int = 0
    duration_s: float = 0.0

    def to_json(self) -> Json:
        return {
            **self.fill.to_json(),
            "mode": self.mode,
            "ok": self.ok,
            "message": self.message,
            "where": self.where,
            "restoredFiles": self.files,
            "restoredBytes": self.bytes,
            "durationS": round(self.duration_s, 3),
        }


class Filler(Protocol):
    mode: str

    def fill(self, fill: VolumeFill, result: FillResult) -> None:
        """Fill one claim, recording what it did in ``result``; raise ``DrkitError`` if it failed."""


def fill_volumes(
    fills: Sequence[VolumeFill], filler: Filler, *, progress: Progress | None = None
) -> list[FillResult]:
    """Fill every claim; one failing is recorded and the others go on. A storage failure of the
    repository itself is recorded too (the resources are already applied: the report must say what
    happened to each volume). A filler with ``parallel`` above 1 fills that many claims at a time
    (restore Jobs of independent claims); the results keep the order of ``fills``."""
    progress = progress or NullProgress()
    prepare = getattr(filler, "prepare", None)
    if callable(prepare):  # e.g. wait for every claim to bind at once, under one deadline
        prepare(fills)
    at_once = min(max(1, int(getattr(filler, "parallel", 1))), len(fills))
    progress.start("restore volumes", len(fills), "volumes")
    try:
        if at_once <= 1:
            results = []
            for fill in fills:
                results.append(_fill_one(filler, fill))
                progress.advance(1)
            return results
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="drkit-fill") as pool:
            futures = [pool.submit(_fill_one, filler, fill) for fill in fills]
            for _done in as_completed(futures):
                progress.advance(1)  # here, not in the workers: one thread reports
            return [f.result() for f in futures]
    finally:
        progress.done()


def _fill_one(filler: Filler, fill: VolumeFill) -> FillResult:
    result = FillResult(fill, filler.mode)
    started = time.monotonic()
    try:
        filler.fill(fill, result)
        result.ok = True
    except (DrkitError, OSError) as exc:
        result.message = str(exc)
        if isinstance(exc, DrkitError) and exc.hint:
            result.message += f" (hint: {exc.hint})"
    finally:
        result.duration_s = time.monotonic() - started
    return result


def _claim_path(fill: VolumeFill) -> str:
    return f"/api/v1/namespaces/{fill.namespace}/persistentvolumeclaims/{fill.pvc}"


def _bound_pv(claim: Json) -> str | None:
    pv = (claim.get("spec") or {}).get("volumeName")
    return str(pv) if pv and (claim.get("status") or {}).get("phase") == "Bound" else None


UNMAPPED_HINT = (
    "map the claim to a directory: --volume-path-map 'NS/PVC=/path' (or '*/*=/root/{namespace}/{pvc}')"
)


def why_unbound(kube: Requester, claim: Json) -> tuple[str, str]:
    """Why ``claim`` is not Bound, as far as its PersistentVolume tells, and what to do about it."""
    meta = claim.get("metadata") or {}
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    pv_name = (claim.get("spec") or {}).get("volumeName")
    if not pv_name:
        return (
            "no PersistentVolume was provisioned or matched for it",
            "check its StorageClass and provisioner (kubectl describe pvc); or " + UNMAPPED_HINT,
        )
    try:
        pv = get(kube, f"/api/v1/persistentvolumes/{pv_name}")
    except KubeAPIError as exc:
        return f"its PersistentVolume {pv_name} cannot be read ({exc.status})", UNMAPPED_HINT
    if pv is None:
        return (
            f"it names PersistentVolume {pv_name}, which does not exist in the target",
            "restore the PersistentVolume too (restore it with the claim), or " + UNMAPPED_HINT,
        )
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    phase = (pv.get("status") or {}).get("phase")
    if ref and (ref.get("namespace"), ref.get("name")) != (meta.get("namespace"), meta.get("name")):
        return (
            f"its PersistentVolume {pv_name} is claimed by {ref.get('namespace')}/{ref.get('name')}",
            "restore into a claim the PV is not bound to, or release the PV first",
        )
    if phase == "Released" and ref.get("uid") and ref.get("uid") != meta.get("uid"):
        return (
            f"its PersistentVolume {pv_name} is Released and its claimRef still holds the uid of the deleted "
            f"claim {key} ({ref.get('uid')})",
            REBIND_HINT,
        )
    return f"its PersistentVolume {pv_name} is {phase or 'in an unknown phase'}", UNMAPPED_HINT


def _get(kube: Requester, path: str) -> Json:
    doc: Json = json.loads(kube.request("GET", path).body)
    return doc


def claim_rule_dir(fill: VolumeFill, rules: Sequence[PathRule]) -> tuple[Path, str] | None:
    """The directory a ``<namespace>/<pvc>`` rule gives ``fill`` before its claim binds, or None when
    the bound PersistentVolume decides (rules are taken in order; the first rule by PV name, or one
    that needs ``{pv}``, stops the search)."""
    unbound = VolumeInfo(fill.namespace, fill.pvc, "")
    for rule in rules:
        if "/" not in rule.pattern:
            return None  # a rule by PV name: the bound PV decides, rules still in order
        if rule.matches(unbound):
            if "{pv}" in rule.template:
                return None
            return rule.path_for(unbound), f"--volume-path-map {rule.pattern}"
    return None


def planned_where(fill: VolumeFill, options: FillOptions) -> str:
    """Where a dry run says ``fill`` would go (no cluster is asked)."""
    if options.mover == "job":
        settings = options.settings
        return f"restore Job in {fill.namespace} (Secret {settings.secret}, image {settings.image})"
    known = claim_rule_dir(fill, options.path_rules)
    if known is not None:
        return f"{known[0]} ({known[1]})"
    return "the directory of the PersistentVolume the claim binds to (known once it is Bound)"


class LocalFiller:
    """Restores into directories on this machine: the first ``--volume-path-map`` rule matching the
    target claim (``ns/pvc`` pattern) or the PersistentVolume it binds to (name pattern, or its own
    ``hostPath``/``local`` path). A rule or path that needs the PV waits for the claim to be Bound."""

    mode = "local"

    def __init__(
        self,
        repo: Repository,
        kube: Requester | None,
        rules: Sequence[PathRule] = (),
        *,
        node_name: str | None = None,
        bind_timeout_s: float = BIND_TIMEOUT_S,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo = repo
        self.kube = kube
        self.rules = tuple(rules)
        self.node_name = node_name or local_node_name()
        self.bind_timeout_s = bind_timeout_s
        self.poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._deadline: Deadline | None = None  # one deadline for every claim's binding (see prepare)

    def prepare(self, fills: Sequence[VolumeFill]) -> None:
        """Wait for the claims whose directory only their PV can tell, all at once, under one deadline
        (``bind_timeout_s``): independent claims bind in parallel, so N claims never take N timeouts."""
        self._deadline = Deadline(self.bind_timeout_s, clock=self._clock)
        if self.kube is None:
            return
        waiting = {f.key: f for f in fills if claim_rule_dir(f, self.rules) is None}
        for _ in self._deadline.polls(self.poll_s, sleep=self._sleep):
            for key, fill in list(waiting.items()):
                if _bound_pv(_get(self.kube, _claim_path(fill))):
                    del waiting[key]
            if not waiting:
                break

    def _bound_volume(self, fill: VolumeFill) -> VolumeInfo:
        if self.kube is None:
            raise ConfigError(f"volume {fill.key}: no --volume-path-map rule matches it")
        deadline = self._deadline or Deadline(self.bind_timeout_s, clock=self._clock)
        for _ in deadline.polls(self.poll_s, sleep=self._sleep):
            claim = _get(self.kube, _claim_path(fill))
            pv = _bound_pv(claim)
            if pv:
                break
        else:
            cause, hint = why_unbound(self.kube, claim)
            raise KubernetesError(
                f"claim {fill.key} was not Bound after {self.bind_timeout_s:.0f}s ({cause}), so its "
                "volume's path is unknown",
                hint=hint,
            )
        volume = _get(self.kube, f"/api/v1/persistentvolumes/{pv}")
        spec = volume.get("spec") or {}
        host = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        return VolumeInfo(fill.namespace, fill.pvc, str(pv), host_path=host, node=affinity_node(volume))

    def target_dir(self, fill: VolumeFill) -> tuple[Path, str]:
        """Where ``fill`` goes here, and which rule or PV field said so."""
        known = claim_rule_dir(fill, self.rules)
        if known is not None:
            return known
        volume = self._bound_volume(fill)
        found = resolve_local(volume, self.rules, self.node_name, is_dir=lambda _p: True)
        if found.path is None:
            raise ConfigError(f"volume {fill.key}: {found.how}")
        return found.path, found.how

    def fill(self, fill: VolumeFill, result: FillResult) -> None:
        target, how = self.target_dir(fill)
        result.where = f"{target} ({how})"
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigError(
                f"volume {fill.key}: {target} is not an empty directory; drkit does not write over data "
                "it did not restore",
                hint="empty it, or map the claim elsewhere with --volume-path-map",
            )
        target.mkdir(parents=True, exist_ok=True)
        stats = self.repo.restore_path(fill.snapshot_id, target, subpath=fill.path)
        result.files, result.bytes = stats.files, stats.bytes
        result.message = f"{stats.files} files, {stats.bytes} bytes into {target}"
        if stats.warnings:
            result.message += f" ({len(stats.warnings)} warnings: {stats.warnings[0]}, ...)"


RESTORE_JOBS_AT_ONCE: Final = 4
"""How many restore Jobs of one restore run at a time (each mounts its own claim: they are independent)."""
TIMEOUT_HINT = (
    "give the restore Jobs more time: --volume-timeout / spec.volumes.timeout (one deadline for all the "
    "restore Jobs of a restore)"
)


class JobFiller:
    """Fills each claim with a restore Job that mounts it (the claim exists: the plan created it). The
    Jobs of independent claims run ``parallel`` at a time, all under one deadline (``timeout_s`` from
    :meth:`prepare`): N claims never take N timeouts, and a claim whose Job could not finish (or start)
    in time is named with the cause."""

    mode = "job"

    def __init__(
        self,
        kube: KubeClient,
        settings: MoverSettings,
        *,
        cluster: MoverCluster | None = None,
        timeout_s: float = 3600.0,
        parallel: int = RESTORE_JOBS_AT_ONCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.cluster = cluster if cluster is not None else KubeMoverCluster(kube)
        self.timeout_s = timeout_s
        self.parallel = max(1, parallel)
        self.clock = clock
        self._deadline: Deadline | None = None
        self._claims = 1

    def prepare(self, fills: Sequence[VolumeFill]) -> None:
        """Start the one deadline of this restore's Jobs."""
        self._deadline = Deadline(self.timeout_s, clock=self.clock)
        self._claims = max(1, len(fills))

    def _budget(self) -> str:
        budget = f"the restore's volume deadline of {self.timeout_s:.0f}s"
        if self._claims > 1:
            at_once = min(self.parallel, self._claims)
            budget += f", shared by the restore Jobs of {self._claims} claims ({at_once} at a time)"
        return budget

    def check_secret(self, namespace: str) -> None:
        """The mover Secret must exist in ``namespace`` and open the repository for reading."""
        name = self.settings.secret
        try:
            secret = _get(self.kube, f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubeNotFound:
            raise ConfigError(
                f"the restore Job needs the Secret {name} in namespace {namespace} (the repository "
                "settings as files) and there is none",
                field="mover-secret",
                hint="create it with the keys url and password or keyfile (docs/volumes.md), or use "
                "--volume-mover local",
            ) from None
        except KubeAPIError as exc:
            raise KubernetesError(f"cannot read Secret {namespace}/{name}: {exc}") from exc
        data = secret.get("data") or {}
        if "write-only" in data:
            raise ConfigError(
                f"Secret {namespace}/{name} holds a write-only key slot, which cannot read backups",
                field="mover-secret",
                hint="give a Secret with a password or key file that can read (--mover-secret)",
            )
        if "url" not in data:
            raise ConfigError(f"Secret {namespace}/{name} has no key 'url'", field="mover-secret")

    def fill(self, fill: VolumeFill, result: FillResult) -> None:
        self.check_secret(fill.namespace)
        deadline = self._deadline or Deadline(self.timeout_s, clock=self.clock)
        if deadline.expired():
            raise KubernetesError(
                f"claim {fill.key}: its restore Job was not started: {self._budget()} had passed while "
                "the Jobs of the other claims ran",
                hint=TIMEOUT_HINT,
            )
        try:
            done = run_restore_job(
                self.cluster,
                fill.mover_target(),
                fill.snapshot_id,
                self.settings,
                path=fill.path,
                timeout_s=deadline.remaining(),
            )
        except KubernetesError as exc:
            if not deadline.expired():
                raise  # failed on its own (the mover's error, a pod that cannot be created)
            raise KubernetesError(
                f"claim {fill.key}: its restore Job did not finish within {self._budget()}: {exc.message}",
                hint=exc.hint or TIMEOUT_HINT,
            ) from None
        result.where = f"Job {fill.namespace}/{done.get('job', '')}"
        result.files, result.bytes = int(done.get("files", 0)), int(done.get("bytes", 0))
        result.message = f"{result.files} files, {result.bytes} bytes by {result.where}"


def summary(results: Sequence[FillResult]) -> str:
    ok = sum(1 for r in results if r.ok)
    return f"{ok} of {len(results)} volumes filled" + (
        f", {len(results) - ok} failed" if ok < len(results) else ""
    )


# -- how, from a plan and the command line ------------------------------------------------------


@dataclass(frozen=True)
class FillOptions:
    mover: str = "local"
    path_rules: tuple[PathRule, ...] = ()
    settings: MoverSettings = field(default_factory=MoverSettings)
    timeout_s: float = 3600.0
    node_name: str | None = None


def fill_options(
    config: RestorePlanConfig,
    *,
    mover: str | None = None,
    path_map: Sequence[str] = (),
    image: str | None = None,
    secret: str | None = None,
    timeout_s: float | None = None,
    node_name: str | None = None,
    run_as_user: int | None = None,
) -> FillOptions:
    """The plan's ``spec.volumes``, overridden by the command line (whose ``path_map`` rules come
    first). A bad rule in the plan names the plan's file, line and field."""
    v = config.volumes
    rules: list[PathRule] = [PathRule.parse(text) for text in path_map]
    for i, text in enumerate(v.path_map):
        try:
            rules.append(PathRule.parse(text))
        except ConfigError as exc:
            raise config.error("spec.volumes.pathMap", f"rule {i + 1}: {_bare(exc)}", exc.hint) from None
    settings = MoverSettings()
    if image or v.image:
        settings = replace(settings, image=image or v.image or settings.image)
    if secret or v.secret:
        try:
            settings = replace(settings, secret=secret or v.secret or settings.secret)
        except ConfigError as exc:
            if secret:
                raise
            raise config.error("spec.volumes.moverSecret", _bare(exc), exc.hint) from None
    uid = run_as_user if run_as_user is not None else v.run_as_user
    if uid is not None:
        if uid <= 0:
            raise ConfigError("a restore as non-root needs a user id above 0", field="--mover-run-as-user")
        # restore as the application's user: no root, no capabilities (Pod Security "restricted")
        settings = replace(settings, restore_as_root=False, run_as_user=uid, run_as_group=uid)
    timeout = timeout_s if timeout_s is not None else (v.timeout.total_seconds() if v.timeout else 3600.0)
    return FillOptions(mover or v.mover or "local", tuple(rules), settings, timeout, node_name)


def _bare(exc: ConfigError) -> str:
    return exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message


def make_filler(options: FillOptions, repo: Repository, kube: KubeClient) -> Filler:
    if options.mover == "job":
        return JobFiller(kube, options.settings, timeout_s=options.timeout_s)
    return LocalFiller(repo, kube, options.path_rules, node_name=options.node_name)


def apply_with_volumes(
    kube: Requester,
    plan: RestorePlan,
    fills: FillPlan | None,
    filler: Filler | None,
    *,
    timeouts: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    unbindable: Mapping[str, str] | None = None,
) -> tuple[ApplyReport, list[FillResult]]:
    """Apply ``plan``; with ``fills``, fill the claims it created after everything but the workloads
    is applied (so the mover Secret and the claims exist) and before the first workload.
    ``unbindable`` (``ns/pvc`` -> why) names claims known not to bind: they fail at once with that
    reason instead of waiting out a timeout (see ``drkit.restore.released``)."""
    filled: list[FillResult] = []
    stuck = dict(unbindable or {})

    def before_workloads() -> None:
        if fills is not None and filler is not None:
            created = _created_claims(applied)
            todo = [f for f in fills.fills if (f.namespace, f.pvc) in created and f.key not in stuck]
            filled.extend(
                FillResult(f, filler.mode, message=f"{stuck[f.key]} (hint: {REBIND_HINT})")
                for f in fills.fills
                if (f.namespace, f.pvc) in created and f.key in stuck
            )
            filled.extend(fill_volumes(todo, filler, progress=progress))
            filled.extend(
                FillResult(f, filler.mode, message=f"not filled: the claim {f.key} was not created")
                for f in fills.fills
                if (f.namespace, f.pvc) not in created
            )

    def hold_back(action: Action) -> str | None:
        unfilled = sorted(r.fill.pvc for r in filled if not r.ok and r.fill.namespace == action.ref.namespace)
        mounts = _claims_mounted(action)
        for claim in unfilled:
            if claim in mounts or _claimed_by_template(action, claim):
                return (
                    f"it mounts the claim {claim}, whose data could not be restored (see volumes); "
                    "it would start on an empty volume. Apply it once the data is in place."
                )
        return None

    applied: list[ActionResult] = []
    report = apply_plan(
        kube,
        plan,
        timeouts=timeouts,
        progress=progress,
        before_workloads=before_workloads,
        on_result=applied.append,
        hold_back=hold_back,
    )
    return report, filled


def _claims_mounted(action: Action) -> list[str]:
    """The claim names the pod template of a workload (or a Pod) mounts."""
    try:
        obj = json.loads(action.body) if action.body else {}
    except ValueError:
        return []
    spec = obj.get("spec") if isinstance(obj, dict) else None
    if not isinstance(spec, dict):
        return []
    if action.ref.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    elif action.ref.kind != "Pod":
        spec = (spec.get("template") or {}).get("spec") or {}
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    return [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in (volumes if isinstance(volumes, list) else [])
        if isinstance(v, dict)
        and isinstance(v.get("persistentVolumeClaim"), dict)
        and v["persistentVolumeClaim"].get("claimName")
    ]


def _claimed_by_template(action: Action, claim: str) -> bool:
    """Whether ``claim`` is one the StatefulSet of ``action`` makes from its ``volumeClaimTemplates``:
    ``<template>-<statefulset>-<ordinal>``, for any ordinal (a scaled-down set keeps its claims)."""
    if action.ref.kind != "StatefulSet":
        return False
    try:
        obj = json.loads(action.body) if action.body else {}
    except ValueError:
        return False
    spec = obj.get("spec") if isinstance(obj, dict) else None
    templates = spec.get("volumeClaimTemplates") if isinstance(spec, dict) else None
    for template in templates if isinstance(templates, list) else []:
        name = (template.get("metadata") or {}).get("name") if isinstance(template, dict) else None
        prefix = f"{name}-{action.ref.name}-"
        if name and claim.startswith(prefix) and claim[len(prefix) :].isdigit():
            return True
    return False


def _created_claims(results: Sequence[ActionResult]) -> set[tuple[str, str]]:
    return {
        (r.action.ref.namespace, r.action.ref.name)
        for r in results
        if r.ok
        and r.action.verb is Verb.CREATE
        and r.action.ref.group == ""
        and r.action.ref.resource == "persistentvolumeclaims"
    }
