"""Job-mode fills: each claim a restore creates is filled by a restore Job that mounts it.

    filler = JobFiller(kube, MoverSettings(secret="drkit-repo-read"), timeout_s=3600)
    results = fill_volumes(fills, filler)      # the Jobs of independent claims run together

The mover Secret must exist in the claim's namespace and must not be write-only (a write-only key
cannot read). The Jobs of independent claims run :data:`RESTORE_JOBS_AT_ONCE` at a time under one
deadline for all of them: N claims never take N timeouts, and a claim whose Job could not finish
(or start) in time is named with its pod's cause. One Job is :func:`drkit.restore.restorejob.run_restore_job`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from drkit.capture.jobclient import KubeMoverCluster, MoverCluster
from drkit.capture.movers import MoverSettings
from drkit.deadline import Deadline
from drkit.errors import ConfigError, KubernetesError
from drkit.kube.client import KubeClient
from drkit.kube.errors import KubeAPIError, KubeNotFound
from drkit.restore.fills import FillResult, VolumeFill
from drkit.restore.restorejob import run_restore_job

Json = dict[str, Any]


def _get(kube: KubeClient, path: str) -> Json:
    doc: Json = json.loads(kube.request("GET", path).body)
    return doc


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
