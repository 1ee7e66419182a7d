"""Restore Jobs: a claim filled by a mover Job (``drkit mover restore`` in the drkit image) before the
workload that mounts it starts.

    result = run_restore_job(cluster, target, volume_snapshot_id, settings, path="volumes/shop/data")

The Job is created, waited for and read through the mover Job client shared with backups
(:mod:`drkit.capture.jobclient`); its manifest is :func:`drkit.capture.movers.restore_job`. A restore
plan fills its claims with :class:`drkit.restore.jobfill.JobFiller`, which runs these Jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drkit.capture.jobclient import MoverCluster, run_job
from drkit.capture.movers import MoverSettings, MoverTarget, restore_job, restore_pvc
from drkit.errors import ConfigError, KubernetesError

if TYPE_CHECKING:
    pass

Json = dict[str, Any]


def target_from_record(record: Mapping[str, Any]) -> MoverTarget:
    """The claim to recreate, from a volume record of a cluster snapshot's ``meta.volumes``."""
    try:
        return MoverTarget(
            namespace=str(record["namespace"]),
            pvc=str(record["pvc"]),
            access_modes=tuple(record.get("accessModes") or ()),
            storage_class=record.get("storageClass"),
            capacity=record.get("capacity"),
            volume_mode=str(record.get("volumeMode") or "Filesystem"),
        )
    except KeyError as exc:
        raise ConfigError(f"a volume record lacks {exc}", field="meta.volumes") from None


def restore_volume(
    cluster: MoverCluster,
    target: MoverTarget,
    snapshot_id: str,
    settings: MoverSettings,
    *,
    path: str | None = None,
    timeout_s: float = 3600.0,
) -> Json:
    """Create the claim and run the restore Job that fills it from the volume snapshot (its directory
    ``path``, default ``volumes/<ns>/<pvc>`` of ``target``); return the mover's result once the Job
    completed (``KubernetesError`` if it failed or left no result). The caller creates the workload
    afterwards."""
    cluster.create(restore_pvc(target, snapshot_id))
    return run_restore_job(cluster, target, snapshot_id, settings, path=path, timeout_s=timeout_s)


def run_restore_job(
    cluster: MoverCluster,
    target: MoverTarget,
    snapshot_id: str,
    settings: MoverSettings,
    *,
    path: str | None = None,
    timeout_s: float = 3600.0,
) -> Json:
    """Run the restore Job that fills the existing claim ``target`` (see :func:`restore_volume`);
    the mover's result, with the Job's name under ``job``."""
    job = restore_job(target, settings, snapshot_id, path=path)
    done = run_job(cluster, job, timeout_s, what="restore Job", delete_on_timeout=True)
    if done.result is None:
        raise KubernetesError(f"restore Job {done.namespace}/{done.name} completed without a result")
    return {**done.result, "job": done.name}
