"""Run a command in a pod's container over the API server's exec websocket (``pods/exec``), through
the ``kubernetes`` package's ``stream`` helper and the credentials of a :class:`KubeClient`.

    result = KubePodExec(kube).exec("shop", "db-0", "db", ["/sbin/fsfreeze", "--freeze", "/data"], 30)
    result.exit_code, result.stdout, result.stderr

Used by backup hooks (``drkit.capture.hooks``). Fake nodes (kwok) run no containers and cannot exec:
this module is exercised against real clusters only; the hook logic is tested with a fake executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from drkit.deadline import Deadline
from drkit.errors import KubernetesError
from drkit.kube.client import KubeClient, api_error

MAX_OUTPUT = 64 * 1024  # kept of each of stdout and stderr


@dataclass(frozen=True)
class PodExecResult:
    exit_code: int
    stdout: str
    stderr: str


class KubePodExec:
    """``exec`` into containers with one client's credentials (needs ``create`` on ``pods/exec``)."""

    def __init__(self, kube: KubeClient) -> None:
        self._core = k8s_client.CoreV1Api(kube._api)

    def exec(
        self, namespace: str, pod: str, container: str, command: Sequence[str], timeout_s: float
    ) -> PodExecResult:
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
        try:
            ws = stream(
                self._core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=list(command),
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
            )
        except ApiException as exc:
            body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            raise api_error("POST", path, int(exc.status or 0), body) from exc
        except (OSError, ValueError) as exc:  # websocket handshake failures
            raise KubernetesError(f"exec in {namespace}/{pod}[{container}]: {exc}") from exc
        out: list[str] = []
        err: list[str] = []
        deadline = Deadline(timeout_s)
        try:
            while ws.is_open():
                if deadline.expired():
                    raise KubernetesError(
                        f"exec in {namespace}/{pod}[{container}] timed out after {timeout_s:.0f}s: "
                        f"{' '.join(command)}"
                    )
                ws.update(timeout=min(deadline.remaining(), 1.0))
                if ws.peek_stdout():
                    out.append(ws.read_stdout())
                if ws.peek_stderr():
                    err.append(ws.read_stderr())
            code = ws.returncode
        finally:
            ws.close()
        if code is None:
            raise KubernetesError(f"exec in {namespace}/{pod}[{container}] ended without an exit status")
        return PodExecResult(int(code), "".join(out)[-MAX_OUTPUT:], "".join(err)[-MAX_OUTPUT:])
