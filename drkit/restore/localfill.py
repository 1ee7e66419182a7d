"""Local-mode fills: a claim's data restored into a directory on the machine drkit runs on.

    filler = LocalFiller(repo, kube, [PathRule.parse("shop/*=/srv/restore/{namespace}/{pvc}")])

The directory is the first ``--volume-path-map`` rule matching the target claim (``ns/pvc``
pattern), or the PersistentVolume it binds to (name pattern, or the PV's own ``hostPath`` /
``local`` path); it must be empty. Claims whose directory only their PV can tell are waited for
together, under one deadline (:meth:`LocalFiller.prepare`); one that does not bind fails with the
cause its PV shows (:func:`why_unbound`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drkit.capture.claims import VolumeInfo, affinity_node
from drkit.capture.localpaths import PathRule, local_node_name, resolve_local
from drkit.deadline import Deadline
from drkit.errors import ConfigError, KubernetesError
from drkit.kube.apply import Requester, get
from drkit.kube.errors import KubeAPIError
from drkit.repo.repository import Repository
from drkit.restore.fills import FillResult, VolumeFill
from drkit.restore.released import REBIND_HINT

Json = dict[str, Any]
BIND_TIMEOUT_S = 120.0


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
