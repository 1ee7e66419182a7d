"""Cluster capture speed: N objects listed from a real kube-apiserver by drkit, next to `kubectl get`.

    .venv/bin/python -m bench.kube_capture [--objects 10000[,100000]] [--repeat 3] [--spread 100]
        [--drkit-src DIR[,DIR]] [--backup-only]

Starts the local control plane (drkit.sandbox; binaries from `make testbin`), creates N ConfigMaps
in one namespace per count given (``bench-<N>``), then measures for each (wall time, median of
--repeat runs, objects/s; for the backup also CPU time and the peak RSS of the drkit process alone,
through GNU ``time`` as in ``bench.measure``, to show whether memory grows with the object count):

* ``kubectl get configmaps -n NS -o json`` (the reference: one paged list, JSON to /dev/null),
* drkit's capture alone (discovery + paged raw lists of that namespace: ``capture_resources``),
* ``drkit backup run --include-namespaces NS`` end to end (capture + store into a new local
  repository: chunk, compress, encrypt, pack, index, signed manifest), as a child process.

``--spread S`` puts each count's objects in S namespaces (``bench-<N>-<i>``, backed up with the glob
``bench-<N>-*``) instead of one: memory should then not grow with the count. ``--drkit-src`` runs the
backup from these source trees (``git archive`` exports of commits; ``PYTHONPATH``), taking turns,
to put commits side by side; ``--backup-only`` skips kubectl and the library capture.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.measure import Measurement, run
from bench.tools import Command, build_native
from drkit.capture.filters import CaptureFilter
from drkit.capture.resources import capture_resources
from drkit.kube.client import KubeClient
from drkit.sandbox.binaries import find
from drkit.sandbox.controlplane import ControlPlane

NAMESPACE = "bench"


def create_objects(plane: ControlPlane, count: int, namespace: str = NAMESPACE, spread: int = 1) -> None:
    names = [namespace] if spread <= 1 else [f"{namespace}-{j}" for j in range(spread)]
    for name in names:
        plane.api(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )

    def one(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:06d}", "labels": {"app": "bench", "shard": str(i % 16)}},
            "data": {"index": str(i), "payload": f"value-{i}-" + "x" * 400},
        }
        plane.api("POST", f"/api/v1/namespaces/{names[i * len(names) // count]}/configmaps", body)

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
    parser.add_argument(
        "--objects", default="10000", help="object counts, comma-separated (one namespace each)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="measure a running cluster instead (nothing is created): with --namespaces",
    )
    parser.add_argument("--namespaces", default="", help="with --kubeconfig: the namespaces to back up")
    parser.add_argument("--spread", type=int, default=1, help="namespaces per count (default 1)")
    parser.add_argument("--drkit-src", default="", help="source trees to run drkit from, comma-separated")
    parser.add_argument("--backup-only", action="store_true", help="measure only drkit backup run")
    args = parser.parse_args()
    sources: list[Path | None] = [Path(p).resolve() for p in args.drkit_src.split(",") if p] or [None]
    for src in sources:
        if src is not None:
            build_native(src)  # an export with C sources: built in place, as pip would
    kubectl = find("kubectl")
    with tempfile.TemporaryDirectory(prefix="drkit-bench-kube-") as tmp:
        work = Path(tmp)
        if args.kubeconfig:
            rows = measure(
                args.kubeconfig,
                args.namespaces.split(","),
                kubectl,
                work,
                args.repeat,
                sources,
                args.backup_only,
            )
        else:
            plane = ControlPlane.start(work / "cluster", nodes=1)
            try:
                namespaces = []
                for count in (int(c) for c in args.objects.split(",")):
                    namespace = f"{NAMESPACE}-{count}"
                    started = time.perf_counter()
                    create_objects(plane, count, namespace, args.spread)
                    print(
                        f"created {count} ConfigMaps in {time.perf_counter() - started:.1f}s", file=sys.stderr
                    )
                    namespaces.append(namespace if args.spread <= 1 else f"{namespace}-*")
                rows = measure(
                    plane.kubeconfig, namespaces, kubectl, work, args.repeat, sources, args.backup_only
                )
            finally:
                plane.stop()
    print(f"Medians of {args.repeat} runs; peak RSS: the largest of the runs")
    print()
    print("| what | objects | wall time | objects/s | CPU | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, count, seconds, cpu, rss in rows:
        extra = f"{cpu:.2f} s | {rss / 1024:.0f} MiB" if rss else "- | -"
        print(f"| {name} | {count} | {seconds:.2f} s | {count / seconds:,.0f} | {extra} |")
    return 0


def measure(  # noqa: PLR0917
    kubeconfig: Path,
    namespaces: list[str],
    kubectl: Path,
    work: Path,
    repeat: int,
    sources: list[Path | None] | None = None,
    backup_only: bool = False,
) -> list[tuple[str, int, float, float, int]]:
    """Per namespace: kubectl, the library capture, the CLI backup (wall, CPU, peak RSS)."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    runs = iter(range(1_000_000))
    rows: list[tuple[str, int, float, float, int]] = []
    for namespace in namespaces:

        def kubectl_get(namespace: str = namespace) -> int:
            out = subprocess.run(
                [str(kubectl), "get", "configmaps", "-n", namespace, "-o", "json", "--chunk-size=500"],
                capture_output=True,
                check=True,
                env=env,
            )
            return len(json.loads(out.stdout)["items"])

        def drkit_capture(namespace: str = namespace) -> int:
            with KubeClient.from_kubeconfig(kubeconfig) as client:
                selected = CaptureFilter.build(
                    include_namespaces=[namespace], include_resources=["configmaps"]
                )
                return sum(1 for _ in capture_resources(client, selected))

        for name, fn in (("kubectl get -o json", kubectl_get), ("drkit capture (library)", drkit_capture)):
            if backup_only or "*" in namespace:
                continue
            seconds, count = timed(fn, repeat)
            rows.append((f"{name}, {namespace}", count, seconds, 0.0, 0))
        trees = sources or [None]
        backups: dict[Path | None, list[tuple[Measurement, int]]] = {src: [] for src in trees}
        for i in range(repeat * len(trees)):
            src = trees[(i + i // len(trees)) % len(trees)]  # take turns; the first one rotates by round
            repo = work / f"repo-{next(runs)}"
            drkit_env = {"DRKIT_REPO": str(repo), "DRKIT_PASSWORD": "bench passphrase, not secret"}
            if src is not None:
                drkit_env["PYTHONPATH"] = str(src)
            cmd = [sys.executable, "-m", "drkit"]
            # from the source tree: `python -m` puts the working directory before PYTHONPATH on sys.path
            subprocess.run(
                [*cmd, "repo", "init"], check=True, env={**env, **drkit_env}, capture_output=True, cwd=src
            )
            out = work / "backup.json"
            argv = [*cmd, "backup", "run", "--include-namespaces", namespace, "--include-resources"]
            argv += ["configmaps", "--include-cluster-resources", "false", "-o", "json"]
            m = run(
                Command(["sh", "-c", '"$@" > "$0"', str(out), *argv], {**env, **drkit_env}, cwd=src),
                work / "log",
            )
            if not m.ok:
                raise SystemExit(f"drkit backup run failed: see {work / 'log'}")
            objects = int(json.loads(out.read_text())["meta"]["resources"]["objects"])
            backups[src].append((m, objects))
            print(
                f"{namespace} {src or 'installed'}: {objects} objects, {m.seconds:.2f} s, "
                f"{m.cpu_seconds:.2f} s CPU, {m.max_rss_kib / 1024:.1f} MiB, load {m.load_before:.1f}",
                file=sys.stderr,
            )
            shutil.rmtree(repo, ignore_errors=True)
        for src, done in backups.items():
            label = "" if src is None else f" [{src.name}]"
            rows.append(
                (
                    f"drkit backup run (CLI, into a repository){label}, {namespace}",
                    done[-1][1],
                    statistics.median(m.seconds for m, _ in done),
                    statistics.median(m.cpu_seconds for m, _ in done),
                    max(m.max_rss_kib for m, _ in done),
                )
            )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
