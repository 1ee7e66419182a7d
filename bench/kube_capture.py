"""Cluster capture speed: N objects listed from a real kube-apiserver by drkit, next to `kubectl get`.

    .venv/bin/python -m bench.kube_capture [--objects 10000] [--repeat 3]

Starts the local control plane (drkit.sandbox; binaries from `make testbin`), creates N ConfigMaps
in one namespace, then measures (wall time, median of --repeat runs, objects/s):

* ``kubectl get configmaps -n NS -o json`` (the reference: one paged list, JSON to /dev/null),
* drkit's capture alone (discovery + paged raw lists of that namespace: ``capture_resources``),
* ``drkit backup run --include-namespaces NS`` end to end (capture + store into a new local
  repository: chunk, compress, encrypt, pack, index, signed manifest), as a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from drkit.capture.filters import CaptureFilter
from drkit.capture.resources import capture_resources
from drkit.kube.client import KubeClient
from drkit.sandbox.binaries import find
from drkit.sandbox.controlplane import ControlPlane

NAMESPACE = "bench"


def create_objects(plane: ControlPlane, count: int) -> None:
    plane.api(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
    )

    def one(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:06d}", "labels": {"app": "bench", "shard": str(i % 16)}},
            "data": {"index": str(i), "payload": f"value-{i}-" + "x" * 400},
        }
        plane.api("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, counts = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        counts.append(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), counts[-1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kubectl = find("kubectl")
    with tempfile.TemporaryDirectory(prefix="drkit-bench-kube-") as tmp:
        work = Path(tmp)
        plane = ControlPlane.start(work / "cluster", nodes=1)
        try:
            started = time.perf_counter()
            create_objects(plane, args.objects)
            print(
                f"created {args.objects} ConfigMaps in {time.perf_counter() - started:.1f}s", file=sys.stderr
            )
            env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}

            def kubectl_get() -> int:
                out = subprocess.run(
                    [str(kubectl), "get", "configmaps", "-n", NAMESPACE, "-o", "json", "--chunk-size=500"],
                    capture_output=True,
                    check=True,
                    env=env,
                )
                return len(json.loads(out.stdout)["items"])

            def drkit_capture() -> int:
                with KubeClient.from_kubeconfig(plane.kubeconfig) as client:
                    selected = CaptureFilter.build(
                        include_namespaces=[NAMESPACE], include_resources=["configmaps"]
                    )
                    return sum(1 for _ in capture_resources(client, selected))

            runs = iter(range(1_000_000))

            def drkit_backup_run() -> int:
                repo = work / f"repo-{next(runs)}"
                drkit_env = {**env, "DRKIT_REPO": str(repo), "DRKIT_PASSWORD": "bench passphrase, not secret"}
                cmd = [sys.executable, "-m", "drkit"]
                subprocess.run([*cmd, "repo", "init"], check=True, env=drkit_env, capture_output=True)
                out = subprocess.run(
                    [
                        *cmd,
                        "backup",
                        "run",
                        "--include-namespaces",
                        NAMESPACE,
                        "--include-resources",
                        "configmaps",
                        "--include-cluster-resources",
                        "false",
                        "-o",
                        "json",
                    ],
                    check=True,
                    env=drkit_env,
                    capture_output=True,
                )
                return int(json.loads(out.stdout)["meta"]["resources"]["objects"])

            rows = []
            for name, fn in (
                ("kubectl get -o json", kubectl_get),
                ("drkit capture (library)", drkit_capture),
                ("drkit backup run (CLI, into a repository)", drkit_backup_run),
            ):
                seconds, count = timed(fn, args.repeat)
                rows.append((name, count, seconds, count / seconds))
        finally:
            plane.stop()
    print(f"| what | objects | wall time (median of {args.repeat}) | objects/s |")
    print("|---|---:|---:|---:|")
    for name, count, seconds, rate in rows:
        print(f"| {name} | {count} | {seconds:.2f} s | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
