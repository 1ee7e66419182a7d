"""Backup hooks: commands run inside the application's pods before and after its volumes are captured
(``fsfreeze``, a database flush), declared as pod annotations like Velero's::

    pre.hook.backup.drkit.io/command: '["/sbin/fsfreeze", "--freeze", "/data"]'
    pre.hook.backup.drkit.io/container: db          # default: the pod's first container
    pre.hook.backup.drkit.io/timeout: 30s           # default 30s
    pre.hook.backup.drkit.io/on-error: Fail         # Fail (default) | Continue
    post.hook.backup.drkit.io/command: '["/sbin/fsfreeze", "--unfreeze", "/data"]'

A pod annotated for Velero (``pre.hook.backup.velero.io/...``, the same fields) gets the same hooks
when it has no drkit annotation for that phase. Parsing is pure (:func:`pod_hooks`); running goes
through :class:`PodExec`, drkit's own interface (implemented over the API's exec websocket by
``drkit.kube.exec.KubePodExec``).

Order for one volume: the pre hooks of every Running pod that mounts the claim (pods by name), then
the capture, then the post hooks of the pods whose pre hooks were run, *even when a pre hook or the
capture failed*: a freeze is always followed by its thaw. A failing pre hook with ``on-error: Fail``
(the default) fails that volume (it is not captured; the cluster snapshot is partial); with
``Continue`` it is recorded and the capture goes on. A failing post hook is recorded; with ``Fail``
it fails the volume.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from drkit.config.durations import parse_duration
from drkit.errors import ConfigError, DrkitError

PHASES: Final = ("pre", "post")
ANNOTATION: Final = "{phase}.hook.backup.drkit.io/{field}"
VELERO_ANNOTATION: Final = "{phase}.hook.backup.velero.io/{field}"
FIELDS: Final = ("command", "container", "timeout", "on-error")
DEFAULT_TIMEOUT_S: Final = 30.0
ON_ERROR: Final = ("Fail", "Continue")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str = ""
    stderr: str = ""


class ExecOutput(Protocol):
    """What an executor returns (:class:`ExecResult`, ``drkit.kube.exec.PodExecResult``)."""

    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


class PodExec(Protocol):
    """Run a command in a container of a pod and wait for it; raise ``DrkitError`` when it cannot be
    run at all (no such pod or container, exec forbidden, timed out)."""

    def exec(
        self, namespace: str, pod: str, container: str, command: Sequence[str], timeout_s: float
    ) -> ExecOutput: ...


@dataclass(frozen=True)
class Hook:
    phase: str  # "pre" | "post"
    namespace: str
    pod: str
    container: str
    command: tuple[str, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_error: str = "Fail"

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.pod}[{self.container}]"


@dataclass(frozen=True)
class HookResult:
    hook: Hook
    ok: bool
    exit_code: int | None
    duration_s: float
    error: str = ""
    output: str = ""  # the tail of stdout+stderr

    def to_record(self) -> dict[str, Any]:
        h = self.hook
        return {
            "phase": h.phase,
            "pod": h.pod,
            "container": h.container,
            "command": list(h.command),
            "onError": h.on_error,
            "ok": self.ok,
            "exitCode": self.exit_code,
            "durationS": round(self.duration_s, 3),
            "error": self.error,
            "output": self.output,
        }


@dataclass
class HookRun:
    """What happened around one volume's capture."""

    results: list[HookResult] = field(default_factory=list)
    failed: str = ""  # non-empty: a Fail hook failed (why)

    def records(self) -> list[dict[str, Any]]:
        return [r.to_record() for r in self.results]


def _field(annotations: Mapping[str, str], key: str, phase: str, name: str) -> str | None:
    value = annotations.get(key.format(phase=phase, field=name))
    return None if value is None else str(value).strip()


def _annotation_set(annotations: Mapping[str, str], phase: str) -> str:
    """drkit's annotations when the pod has any for ``phase``, else Velero's (same fields and meaning),
    so that workloads annotated for Velero keep their hooks."""
    if any(ANNOTATION.format(phase=phase, field=f) in annotations for f in FIELDS):
        return ANNOTATION
    if any(VELERO_ANNOTATION.format(phase=phase, field=f) in annotations for f in FIELDS):
        return VELERO_ANNOTATION
    return ANNOTATION


def parse_command(text: str, where: str) -> tuple[str, ...]:
    """A JSON array of strings (Velero's form), or a single command word without spaces."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: the hook command is not a JSON array: {exc}") from None
        if not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: the hook command must be a non-empty JSON array of strings")
        return tuple(value)
    if not text or any(c.isspace() for c in text):
        raise ConfigError(
            f"{where}: the hook command {text!r} must be a JSON array such as "
            '\'["/sbin/fsfreeze", "--freeze", "/data"]\''
        )
    return (text,)


def pod_hooks(pod: Mapping[str, Any]) -> list[Hook]:
    """The hooks a pod's annotations declare (pre first, then post); ``ConfigError`` naming the pod
    and the annotation when one is malformed."""
    meta = pod.get("metadata") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    hooks = []
    for phase in PHASES:
        key = _annotation_set(annotations, phase)
        command = _field(annotations, key, phase, "command")
        where = f"pod {namespace}/{name}: {key.format(phase=phase, field='command')}"
        if command is None:
            for other in FIELDS[1:]:
                if _field(annotations, key, phase, other) is not None:
                    raise ConfigError(f"{where} is missing but {key.format(phase=phase, field=other)} is set")
            continue
        container = _field(annotations, key, phase, "container") or (containers[0] if containers else "")
        if container not in containers:
            raise ConfigError(
                f"{where}: no container {container!r} in the pod (it has: {', '.join(containers)})"
            )
        timeout_text = _field(annotations, key, phase, "timeout")
        timeout = DEFAULT_TIMEOUT_S
        if timeout_text:
            annotation = key.format(phase=phase, field="timeout")
            timeout = parse_duration(timeout_text, f"pod {namespace}/{name}: {annotation}").total_seconds()
            if timeout <= 0:
                raise ConfigError(f"{where}: the timeout must be positive")
        on_error = _field(annotations, key, phase, "on-error") or "Fail"
        if on_error not in ON_ERROR:
            raise ConfigError(f"{where}: on-error is Fail or Continue, not {on_error!r}")
        hooks.append(
            Hook(phase, namespace, name, container, parse_command(command, where), timeout, on_error)
        )
    return hooks


def claim_pods(pods: Iterable[Mapping[str, Any]], namespace: str, claim: str) -> list[Mapping[str, Any]]:
    """The Running pods of ``namespace`` that mount ``claim``, sorted by name."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") != namespace or (pod.get("status") or {}).get("phase") != "Running":
            continue
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim for v in volumes):
            out.append(pod)
    return sorted(out, key=lambda p: str(p["metadata"].get("name")))


def _tail(result: ExecOutput) -> str:
    text = (result.stdout + result.stderr).strip()
    return text[-500:]


def _run_one(hook: Hook, executor: PodExec, clock: Callable[[], float]) -> HookResult:
    started = clock()
    try:
        answer = executor.exec(hook.namespace, hook.pod, hook.container, hook.command, hook.timeout_s)
    except DrkitError as exc:
        return HookResult(hook, False, None, clock() - started, error=str(exc))
    ok = answer.exit_code == 0
    error = "" if ok else f"exit code {answer.exit_code}"
    said = (answer.stderr.strip() or answer.stdout.strip())[-300:]
    if not ok and said:  # what the command said is what the operator needs (e.g. "cannot freeze")
        error += f": {said}"
    return HookResult(hook, ok, answer.exit_code, clock() - started, error=error, output=_tail(answer))


def run_around(
    hooks: Sequence[Hook],
    executor: PodExec,
    capture: Callable[[], None],
    *,
    run: HookRun | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> HookRun:
    """Run the pre hooks, ``capture`` (unless a Fail pre hook failed), then the post hooks of every
    pod whose pre hooks started; results go into ``run`` (a new one if None), which is returned.
    ``capture``'s own exception propagates after the post hooks ran (``run`` holds their results)."""
    run = run if run is not None else HookRun()
    pods_started: list[str] = []
    for hook in (h for h in hooks if h.phase == "pre"):
        if hook.pod not in pods_started:
            pods_started.append(hook.pod)
        result = _run_one(hook, executor, clock)
        run.results.append(result)
        if not result.ok and hook.on_error == "Fail":
            run.failed = f"pre hook in {hook.where} failed: {result.error}"
            break
    # pods that declare only post hooks get them too
    for hook in hooks:
        if (
            hook.phase == "post"
            and hook.pod not in pods_started
            and not any(h.pod == hook.pod and h.phase == "pre" for h in hooks)
        ):
            pods_started.append(hook.pod)
    try:
        if not run.failed:
            capture()
    finally:
        for hook in (h for h in hooks if h.phase == "post" and h.pod in pods_started):
            result = _run_one(hook, executor, clock)
            run.results.append(result)
            if not result.ok and hook.on_error == "Fail" and not run.failed:
                run.failed = f"post hook in {hook.where} failed: {result.error}"
    return run
