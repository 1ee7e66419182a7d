"""Which claims of a restore get their data back, and the loop that fills them (the *how* is a
:class:`Filler`: :class:`drkit.restore.localfill.LocalFiller` or :class:`drkit.restore.restorejob.JobFiller`).

    fills = plan_fills(snapshot.meta.get("volumes"), plan, snapshot.id)   # pure: which claim, which data
    results = fill_volumes(fills.fills, filler)                           # one failure does not stop the rest

Where the data is: a volume captured in local mode lives in the cluster snapshot itself under
``volumes/<ns>/<pvc>``; one captured by a mover Job lives in its own ``volume`` snapshot (the
record's ``snapshot``), under the same path. Only a claim this restore **creates** is filled; a
volume whose capture failed, or that the snapshot holds no data for, is listed with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from drkit.capture.movers import MoverTarget
from drkit.errors import DrkitError
from drkit.repo.engine.progress import NullProgress, Progress
from drkit.restore.model import Action, RestorePlan, Verb
from drkit.restore.restorejob import target_from_record

Json = dict[str, Any]


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


def summary(results: Sequence[FillResult]) -> str:
    ok = sum(1 for r in results if r.ok)
    return f"{ok} of {len(results)} volumes filled" + (
        f", {len(results) - ok} failed" if ok < len(results) else ""
    )
