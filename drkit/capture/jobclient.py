"""The mover Job client, shared by backups and restores: create a Job, wait for it, read what its pod
said, clean up.

    done = run_job(cluster, backup_job(target, settings, run), timeout_s, what="mover Job")
    done.result            # the mover's JSON result from its termination message (None if none)

:class:`MoverCluster` is what the orchestration needs from the cluster (a fake in unit tests);
:class:`KubeMoverCluster` is it over the API server (raw JSON, polling). A Job that fails raises
``KubernetesError`` with the mover's own ``error``, else the tail of what its pod said (the
termination message falls back to the log's tail: ``FallbackToLogsOnError``). A Job whose pod
cannot be created fails after :data:`CREATE_GRACE_S` with the API server's reason; a Job that times
out says why its pod is pending. The manifests themselves are built in :mod:`drkit.capture.movers`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from drkit.capture.movers import parse_result
from drkit.deadline import Deadline
from drkit.errors import ConfigError, DrkitError, KubernetesError
from drkit.kube.errors import KubeNotFound

if TYPE_CHECKING:  # imported by whoever makes a client (an etcd-only backup never does: ~0.5 s)
    from drkit.kube.client import KubeClient

Json = dict[str, Any]


class MoverCluster(Protocol):
    """What the orchestration of mover Jobs needs from the cluster (a fake in unit tests)."""

    def create(self, manifest: Json) -> Json: ...

    def delete(self, manifest: Json) -> None: ...

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> Json:
        """The Job once it is Complete or Failed; ``KubernetesError`` after ``timeout_s``."""
        ...

    def job_messages(self, namespace: str, name: str) -> list[str]:
        """The termination messages of the Job's pods' containers (newest pod first)."""
        ...

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None: ...


_COLLECTIONS: Final = {
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    ("v1", "PersistentVolumeClaim"): "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    (
        "snapshot.storage.k8s.io/v1",
        "VolumeSnapshot",
    ): "/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots",
}


def collection_path(manifest: Mapping[str, Any]) -> str:
    where = _COLLECTIONS.get((str(manifest.get("apiVersion")), str(manifest.get("kind"))))
    if where is None:
        raise ConfigError(f"no collection known for {manifest.get('apiVersion')} {manifest.get('kind')}")
    return where.format(ns=manifest["metadata"]["namespace"])


def job_finished(job: Mapping[str, Any]) -> str | None:
    """``Complete`` or ``Failed`` once the Job controller says so, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


CREATE_GRACE_S: Final = 5.0
"""How long a Job may have no pod at all before its ``FailedCreate`` events are read."""


class KubeMoverCluster:
    """:class:`MoverCluster` over the API server (raw JSON, polling)."""

    def __init__(self, kube: KubeClient, *, poll_s: float = 1.0) -> None:
        self.kube = kube
        self.poll_s = poll_s

    def create(self, manifest: Json) -> Json:
        created: Json = self.kube.send_json("POST", collection_path(manifest), manifest)
        return created

    def delete(self, manifest: Json) -> None:
        path = f"{collection_path(manifest)}/{manifest['metadata']['name']}"
        with contextlib.suppress(KubeNotFound):
            self.kube.send_json("DELETE", path, {"propagationPolicy": "Background"})

    def _poll(
        self, get: Callable[[], Json], done: Callable[[Json], bool], what: str, timeout_s: float
    ) -> Json:
        for _ in Deadline(timeout_s).polls(self.poll_s):
            obj = get()
            if done(obj):
                return obj
        raise KubernetesError(f"timed out after {timeout_s:.0f}s waiting for {what}")

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> Json:
        """The finished Job. A Job whose pod cannot even be created (the namespace's Pod Security
        level refuses it, a quota is exhausted: the Job controller's ``FailedCreate`` events) fails
        after :data:`CREATE_GRACE_S` with the API server's reason instead of waiting out ``timeout_s``."""
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
        started = time.monotonic()

        def done(job: Json) -> bool:
            if job_finished(job) is not None:
                return True
            status = job.get("status") or {}
            no_pod = not any(status.get(k) for k in ("active", "succeeded", "failed", "ready"))
            if no_pod and time.monotonic() - started >= CREATE_GRACE_S:
                refused = self._create_refused(namespace, name)
                if refused:
                    raise KubernetesError(
                        f"Job {namespace}/{name} cannot create its pod: {refused}",
                        hint="a namespace whose Pod Security level is 'restricted' refuses a mover that "
                        "runs as root (restores do by default); see docs/volumes.md",
                    )
            return False

        try:
            return self._poll(
                lambda: self.kube.get_json(path), done, f"Job {namespace}/{name} to finish", timeout_s
            )
        except KubernetesError as exc:
            why = self._pending_reason(namespace, name)
            if why:
                raise KubernetesError(f"{exc.message}; its pod: {why}", hint=exc.hint) from None
            raise

    def _create_refused(self, namespace: str, name: str) -> str:
        """The newest ``FailedCreate`` event message of the Job, if any."""
        try:
            events = self.kube.get_json(
                f"/api/v1/namespaces/{namespace}/events",
                {"fieldSelector": f"involvedObject.kind=Job,involvedObject.name={name},reason=FailedCreate"},
            )
        except DrkitError:
            return ""
        items = sorted(
            events.get("items") or [],
            key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
        )
        return str(items[-1].get("message") or "") if items else ""

    def _pending_reason(self, namespace: str, name: str) -> str:
        """Why the Job's pod is not running (not scheduled: an unbound claim, no node), if it says."""
        try:
            pods = self.kube.get_json(
                f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"job-name={name}"}
            )
        except DrkitError:
            return ""
        for pod in pods.get("items") or []:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    return f"not scheduled: {cond.get('message') or cond.get('reason') or 'no reason given'}"
            waiting = [
                (s.get("state") or {}).get("waiting") or {}
                for s in (pod.get("status") or {}).get("containerStatuses") or []
            ]
            for w in waiting:
                if w.get("reason"):
                    return f"waiting: {w['reason']}" + (f": {w['message']}" if w.get("message") else "")
        return ""

    def job_messages(self, namespace: str, name: str) -> list[str]:
        pods = self.kube.get_json(
            f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"job-name={name}"}
        )
        items = sorted(
            pods.get("items") or [],
            key=lambda p: str(p["metadata"].get("creationTimestamp", "")),
            reverse=True,
        )
        out = []
        for pod in items:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                message = ((status.get("state") or {}).get("terminated") or {}).get("message")
                if message:
                    out.append(str(message))
        return out

    def wait_snapshot_ready(self, namespace: str, name: str, timeout_s: float) -> None:
        path = f"/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}/volumesnapshots/{name}"

        def ready(vs: Json) -> bool:
            status = vs.get("status") or {}
            if status.get("error"):
                raise KubernetesError(f"VolumeSnapshot {namespace}/{name}: {status['error'].get('message')}")
            return bool(status.get("readyToUse"))

        self._poll(lambda: self.kube.get_json(path), ready, f"VolumeSnapshot {namespace}/{name}", timeout_s)


def first_result(messages: list[str]) -> Json | None:
    """The mover's result: the first termination message that is one."""
    for message in messages:
        try:
            return parse_result(message)
        except KubernetesError:
            continue
    return None


FAILURE_TAIL = 600


def failure_reason(result: Json | None, messages: list[str]) -> str:
    """Why a mover Job failed, for its error: the mover's own ``error``, else what its pod said last
    (a crash before the mover could write a result leaves its log as the termination message)."""
    if result and result.get("error"):
        return str(result["error"])
    said = next((m.strip() for m in messages if m.strip()), "")
    if not said:
        return "its pod left no message (see the Job's pod logs)"
    return f"its pod said: {said[-FAILURE_TAIL:]}"


@dataclass(frozen=True)
class JobDone:
    """A mover Job that completed: its name and namespace, the mover's result (None when no
    termination message holds one) and the messages of its pods."""

    namespace: str
    name: str
    result: Json | None
    messages: list[str]


def run_job(
    cluster: MoverCluster,
    job: Json,
    timeout_s: float,
    *,
    what: str = "mover Job",
    delete_on_timeout: bool = False,
) -> JobDone:
    """Create ``job``, wait at most ``timeout_s`` for it to finish and read its pods' termination
    messages. ``KubernetesError`` if it failed (``<what> <ns>/<name> failed: <reason>``) or did not
    finish in time (deleted first with ``delete_on_timeout``: a restore Job that ran later would fill
    a claim after the workloads started)."""
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    cluster.create(job)
    try:
        finished = cluster.wait_job(namespace, name, timeout_s)
    except KubernetesError:
        if delete_on_timeout:
            delete_quietly(cluster, [job])
        raise
    messages = cluster.job_messages(namespace, name)
    result = first_result(messages)
    if job_finished(finished) != "Complete":
        raise KubernetesError(f"{what} {namespace}/{name} failed: {failure_reason(result, messages)}")
    return JobDone(namespace, name, result, messages)


def delete_quietly(cluster: MoverCluster, manifests: Iterable[Json]) -> None:
    """Delete what a mover made (Jobs, VolumeSnapshots, clones), best effort: their labels name them
    for a manual clean-up."""
    for obj in manifests:
        with contextlib.suppress(DrkitError):
            cluster.delete(obj)
